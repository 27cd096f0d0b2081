"""A worker's in-memory response store: least recently used out, bounded in bytes.

Flask-Caching's ``SimpleCache`` bounds entries by count and, once full, scans
and sorts every entry on each ``set``: with a catalog larger than the cache,
every miss paid that, and the cache made random reads slower than no cache at
all (``docs/benchmarks.md``). Here a full store drops its least recently used
entries, a constant cost, until the new one fits in ``max_bytes``, which is
what bounds a worker's memory (entries are bytes: their size is known).
"""

import threading
import time
from collections import OrderedDict
from typing import Any

from flask_caching.backends.base import BaseCache


class LRUMemoryCache(BaseCache):
    """A thread-safe LRU store of byte strings, at most ``max_bytes`` of them in all."""

    def __init__(self, max_bytes: int, default_timeout: int = 300, **kwargs):
        """An empty store holding at most ``max_bytes`` of values."""
        super().__init__(default_timeout=default_timeout, **kwargs)
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def factory(cls, app, config: dict[str, Any], args: list, kwargs: dict) -> "LRUMemoryCache":
        """Flask-Caching's constructor hook: the bound is ``CACHE_MAX_BYTES``."""
        return cls(config["CACHE_MAX_BYTES"], *args, **kwargs)

    def get(self, key: str) -> bytes | None:
        """The value under ``key``, None when absent or expired; marks it recently used."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires < time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, timeout: int | None = None) -> bool:
        """Keep ``value`` under ``key`` for ``timeout`` seconds; False when it can never fit."""
        if len(value) > self.max_bytes:
            return False
        seconds = self.default_timeout if timeout is None else timeout
        with self._lock:
            if key in self._entries:
                self._drop(key)
            while self._entries and self.size + len(value) > self.max_bytes:
                self._drop(next(iter(self._entries)))
            self._entries[key] = (time.monotonic() + seconds, value)
            self.size += len(value)
        return True

    def delete(self, key: str) -> bool:
        """Forget ``key``; whether it was there."""
        with self._lock:
            if key not in self._entries:
                return False
            self._drop(key)
            return True

    def clear(self) -> bool:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self.size = 0
        return True

    def __len__(self) -> int:
        """How many entries are kept."""
        return len(self._entries)

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self.size -= len(value)
