"""The Redis the tests share, and keys of this run's own in it.

Where: ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``; CI points it at
its service container). When it does not answer, the tests that need it fail
rather than skip.

Whose keys: that Redis may serve other test runs, other worktrees or a developer's
app at the same time, so nothing here empties a database (no ``FLUSHDB``). Each run
writes under a prefix of its own (``RUN_PREFIX``), each test under a prefix inside
that one (``new_prefix``); the apps under test put it in front of every key through
``REDIS_KEY_PREFIX``. Cleaning up deletes the keys that start with a prefix, found
with ``SCAN``, and nothing else.
"""

import os
import re
import uuid

import redis

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
RUN_PREFIX = f"storefront-test:{uuid.uuid4().hex[:12]}:"


def connect() -> redis.Redis:
    """A client of the test Redis, checked to answer (fail, never skip, when it is down)."""
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.ping()
    return client


def new_prefix(purpose: str) -> str:
    """A key prefix no other test (of this run or another) uses: ``RUN_PREFIX`` + purpose + id."""
    return f"{RUN_PREFIX}{purpose}:{uuid.uuid4().hex[:8]}:"


def delete_keys(client: redis.Redis, prefix: str) -> int:
    """Delete every key that starts with ``prefix`` (and no other); return how many went."""
    # SCAN's MATCH is a glob: the prefix must match itself only.
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
    deleted = 0
    batch = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) == 500:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted
