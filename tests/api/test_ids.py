"""Record ids: 15 characters drawn evenly from [a-z0-9]."""

from __future__ import annotations

from backforge.store.ids import ALPHABET, LENGTH, is_valid_id, new_id


def test_new_ids_use_the_whole_alphabet_evenly():
    ids = [new_id() for _ in range(20_000)]
    assert all(len(i) == LENGTH and is_valid_id(i) for i in ids)
    assert len(set(ids)) == len(ids)
    counts = {c: 0 for c in ALPHABET}
    for i in ids:
        for c in i:
            counts[c] += 1
    expected = LENGTH * len(ids) / len(ALPHABET)
    # 300,000 characters, ~8,300 each (one standard deviation ~1.1%): a biased mapping (bytes
    # 252-255 kept) would put a, b, c and d 14% high.
    assert all(abs(n - expected) < 0.07 * expected for n in counts.values()), counts
