"""A bounded, thread-safe memo of computed results, keyed by everything they depend on.

Used for the impact analyses and their JSON (``app.situation``): a key names the event, its zones
version, the revisions of the datasets read and the datasets open, so any change of one of
those is a new key, and the old entry simply ages out of the LRU. Entries are bounded in number
and in bytes (each entry declares its size). Concurrent requests for the same missing key
compute it once: the others wait for that result (a failure is not cached: they compute again).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["Memo"]

V = TypeVar("V")


class _Pending:
    __slots__ = ("done", "value", "failed")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.failed = False


class Memo:
    """LRU of ``key -> value``, at most ``max_entries`` and about ``max_bytes``."""

    def __init__(self, max_entries: int = 64, max_bytes: int = 256 * 2**20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._pending: dict[Hashable, _Pending] = {}
        self._lock = threading.Lock()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: Hashable) -> Any:
        """The value of ``key``, or None (a hit moves it to the young end)."""
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return found[0]

    def get_or_compute(
        self, key: Hashable, compute: Callable[[], V], size: Callable[[V], int] | None = None
    ) -> V:
        """The memoised value of ``key``, computing it once (``size(value)``: its bytes)."""
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
                self.hits += 1
                return found[0]  # type: ignore[no-any-return]
            pending = self._pending.get(key)
            owner = pending is None
            if pending is None:
                pending = self._pending[key] = _Pending()
                self.misses += 1
        if not owner:
            pending.done.wait()
            if not pending.failed:
                return pending.value  # type: ignore[no-any-return]
            return compute()  # the other computation failed: try on our own, uncached
        try:
            value = compute()
        except BaseException:
            pending.failed = True
            with self._lock:
                self._pending.pop(key, None)
            pending.done.set()
            raise
        self.put(key, value, size(value) if size is not None else 0)
        with self._lock:
            self._pending.pop(key, None)
        pending.value = value
        pending.done.set()
        return value

    def put(self, key: Hashable, value: Any, nbytes: int = 0) -> None:
        """Store ``value`` under ``key`` and evict the oldest entries beyond the bounds."""
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, nbytes)
            self._bytes += nbytes
            while len(self._data) > 1 and (
                len(self._data) > self.max_entries or self._bytes > self.max_bytes
            ):
                _, (_, size) = self._data.popitem(last=False)
                self._bytes -= size

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
