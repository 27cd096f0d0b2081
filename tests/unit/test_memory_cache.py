"""The per-worker response store: least recently used out, never over its bytes."""

import pytest

from api.hooks.memory_cache import LRUMemoryCache


@pytest.fixture
def store():
    return LRUMemoryCache(max_bytes=10, default_timeout=60)


def test_a_full_store_drops_the_least_recently_used_first(store):
    store.set("a", b"aaaa")
    store.set("b", b"bbbb")
    assert store.get("a") == b"aaaa"  # now b is the least recently used

    store.set("c", b"cccc")

    assert (store.get("a"), store.get("b"), store.get("c")) == (b"aaaa", None, b"cccc")
    assert store.size == 8


def test_it_never_holds_more_than_its_bytes(store):
    for n in range(50):
        store.set(f"k{n}", bytes(n % 7))
        assert store.size <= 10
    assert store.size == sum(len(store.get(key) or b"") for key in [f"k{n}" for n in range(50)])


def test_a_value_larger_than_the_store_is_refused_and_keeps_the_rest(store):
    store.set("a", b"aaaa")

    assert store.set("big", bytes(11)) is False

    assert (store.get("big"), store.get("a")) == (None, b"aaaa")


def test_replacing_a_key_counts_its_new_size_only(store):
    store.set("a", b"aaaaaaaa")
    store.set("a", b"aa")

    assert (store.size, len(store), store.get("a")) == (2, 1, b"aa")


def test_an_expired_entry_is_gone(store):
    store.set("a", b"aaaa", timeout=-1)

    assert store.get("a") is None
    assert (store.size, len(store)) == (0, 0)


def test_delete_and_clear(store):
    store.set("a", b"aa")
    store.set("b", b"bb")

    assert store.delete("a") is True
    assert store.delete("a") is False
    assert store.clear() is True
    assert (store.size, len(store), store.get("b")) == (0, 0, None)
