"""The memo of computed results: bounds, LRU, one computation per key, failures not kept."""

from __future__ import annotations

import threading

import pytest

from app.geo.memo import Memo


def test_lru_bounded_in_entries_and_bytes():
    memo = Memo(max_entries=3, max_bytes=100)
    for k in "abc":
        memo.put(k, k.upper(), 10)
    assert memo.get("a") == "A"  # a is now the youngest
    memo.put("d", "D", 10)
    assert "b" not in memo and {"a", "c", "d"} <= {k for k in "abcd" if k in memo}
    memo.put("e", "E", 95)  # over the byte budget: everything older goes
    assert len(memo) == 1 and memo.get("e") == "E" and memo.nbytes == 95
    assert memo.get("zzz") is None


def test_concurrent_requests_compute_a_key_once():
    memo = Memo()
    release = threading.Event()
    calls = []

    def compute():
        calls.append(1)
        assert release.wait(10)
        return object()

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(memo.get_or_compute("k", compute)))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(results) == 6 and all(r is results[0] for r in results)
    assert memo.misses == 1


def test_a_failure_is_not_kept():
    memo = Memo()

    def broken():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        memo.get_or_compute("k", broken)
    assert "k" not in memo
    assert memo.get_or_compute("k", lambda: 42, lambda v: 8) == 42 and memo.nbytes == 8
