"""`backforge design "words…"`: a declaration drafted by a language model behind any
OpenAI-compatible chat endpoint, repaired with `check`'s errors for a bounded number of rounds,
and shown — checked, its migration plan and its audit — before anything is written."""
