"""Files of file fields: where they are kept (`storage`), what they are (`sniff`), their
names (`names`), signed download links (`links`) and thumbnails (`thumbs`)."""
