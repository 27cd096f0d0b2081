"""A cache of public reads: products, product pages and product images.

What: ``GET`` (and ``HEAD``) of ``/products/{id}``, ``/products`` (every query
string, keyed exactly as sent) and ``/products/{id}/image``, answered 200, to
requests without credentials. The key is everything that can change the
body: scheme, host, script root (``X-Forwarded-Prefix`` behind a proxy), path,
query string and ``Accept``. Stored are the status, the body the view made
(uncompressed: compression runs after the cache, on hits too) and its
representation headers; never a per-client one (``X-Request-ID``,
``X-RateLimit-*``, ``Retry-After``, ``Date``, ``Set-Cookie``), which the
other hooks add afresh to every response, hit or miss.

Where: Flask-Caching's ``RedisCache`` with ``REDIS_URL`` (shared by every
worker and instance, under ``REDIS_KEY_PREFIX``), else an LRU store in each
worker (``api.hooks.memory_cache``), bounded by ``RESPONSE_CACHE_MEMORY_MB``. Bodies over
``RESPONSE_CACHE_MAX_KB`` are served but not stored.

When an entry is current: it carries the generation token
(``models.cache_generation``) read before its data was, and is served only
while the database holds that same token. Every committed write to products,
through any worker, instance, the job worker or the CLI, replaces the token
after its commit, so the next read anywhere misses. The token is read on every
lookup (a single-row SELECT, see ``docs/performance.md`` for its cost);
``RESPONSE_CACHE_SECONDS`` bounds an entry's life should a bump ever be lost.

Never failing: Redis unreachable, the database not answering the token read,
or a bump owed by this process: the request is served from the database as
if there were no cache (logged once; Redis is tried again every
``RECHECK_SECONDS``).
"""

import hashlib
import json
import logging
import threading
import time

from cachelib.serializers import BaseSerializer
from flask import Flask, current_app, g, request
from flask_caching import Cache
from prometheus_client import Counter
from werkzeug.http import http_date, unquote_etag

from models import db
from models.cache_generation import watch_product_writes

EXTENSION = "storefront.response_cache"
GENERATION = "storefront.generation"
# The operations whose public 200s are cached (restx endpoint names).
CACHED_ENDPOINTS = frozenset(
    {"api.products_product_list", "api.products_product_item", "api.products_product_image"}
)
# Headers that belong to one request or client, never to the representation.
PER_CLIENT = frozenset(
    {
        "x-request-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "date",
        "set-cookie",
    }
)
# Credentials of any kind: such a request is neither served nor stored.
CREDENTIALS = ("HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_PROXY_AUTHORIZATION")
# Conditions other than If-None-Match are rare on these reads: left to the view.
OTHER_CONDITIONS = (
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_RANGE",
    "HTTP_RANGE",
)
_NOT_CACHEABLE = CREDENTIALS + OTHER_CONDITIONS
# What a 304 keeps of the stored headers, as the views' own 304s do.
NOT_MODIFIED_HEADERS = frozenset({"etag", "cache-control", "expires"})
# While Redis is unreachable, how often a request tries it again.
RECHECK_SECONDS = 10
# Redis keys: REDIS_KEY_PREFIX + this + a hash of the request's key.
KEY_PREFIX = "storefront:response:"
OUTCOMES = ("hit", "miss", "bypass")

logger = logging.getLogger("api.response_cache")


class BytesSerializer(BaseSerializer):
    """Entries are bytes already: stored and read as they are, never pickled.

    cachelib pickles by default, and unpickling what a shared Redis returns
    would run whatever anyone able to write there put in it.
    """

    def dumps(self, value: bytes, protocol: int = 0) -> bytes:
        """The entry itself."""
        return value

    def loads(self, value: bytes | None) -> bytes | None:
        """The entry itself (None when absent)."""
        return value


def encode_entry(token: int, status: int, headers: list, body: bytes) -> bytes:
    """One entry: a JSON line (token, status, headers), then the body."""
    head = json.dumps([token, status, headers], separators=(",", ":")).encode()
    return head + b"\n" + body


def decode_entry(raw: bytes) -> tuple[int, int, list, bytes]:
    """(token, status, headers, body) of an entry made by ``encode_entry``."""
    head, _, body = raw.partition(b"\n")  # JSON escapes newlines: the first one ends it
    token, status, headers = json.loads(head)
    return token, status, headers, body


class ResponseCache:
    """One app's response cache: its store, its limits, its counts and its health."""

    def __init__(self, app: Flask, watch):
        config = app.config
        self.watch = watch
        self.max_bytes = int(config["RESPONSE_CACHE_MAX_KB"] * 1024)
        self.seconds = config["RESPONSE_CACHE_SECONDS"]
        cache = Cache()
        cache.init_app(app, config=self._backend(config, app))
        self.store = app.extensions["cache"][cache]
        self.shared = config["REDIS_URL"] is not None
        self.counts = _counters(app)
        self._up = True
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._seen_token = None

    @staticmethod
    def _backend(config, app: Flask) -> dict:
        options = {"CACHE_DEFAULT_TIMEOUT": config["RESPONSE_CACHE_SECONDS"]}
        if config["REDIS_URL"] is None:
            return {
                **options,
                "CACHE_TYPE": "api.hooks.memory_cache.LRUMemoryCache",
                "CACHE_MAX_BYTES": int(config["RESPONSE_CACHE_MEMORY_MB"] * 1024 * 1024),
            }
        return {
            **options,
            "CACHE_TYPE": "RedisCache",
            "CACHE_SERIALIZER": BytesSerializer(),
            # The app's client (api.auth.connect_redis): short timeouts, one attempt.
            "CACHE_REDIS_HOST": app.extensions["storefront.redis"],
            "CACHE_KEY_PREFIX": config["REDIS_KEY_PREFIX"] + KEY_PREFIX,
        }

    # --- health of the store -----------------------------------------------------

    def _usable(self) -> bool:
        if self._up:
            return True
        with self._lock:  # one request tries Redis again, the others bypass meanwhile
            if self._up or time.monotonic() < self._next_check:
                return self._up
            self._next_check = time.monotonic() + RECHECK_SECONDS
            return True

    def _failed(self, error: Exception) -> None:
        with self._lock:
            self._next_check = time.monotonic() + RECHECK_SECONDS
            if self._up:
                self._up = False
                logger.warning(
                    "Response cache store unreachable (%s); serving without it",
                    type(error).__name__,
                )

    def _worked(self) -> None:
        if not self._up:
            self._up = True
            logger.info("Response cache store is back; caching again")

    # --- the two hooks -------------------------------------------------------------

    def lookup(self):
        """``before_request``: answer a cached read, or note what to store after the view."""
        environ = request.environ
        if request.endpoint not in CACHED_ENDPOINTS or request.method not in ("GET", "HEAD"):
            return None
        if any(name in environ for name in _NOT_CACHEABLE):
            self._count("bypass")
            return None
        token = self._current_token()
        if token is None or not self._usable():
            self._count("bypass")
            return None
        key = _key(environ)
        try:
            raw = self.store.get(key)
        except Exception as error:  # any store failure is a bypass
            self._failed(error)
            self._count("bypass")
            return None
        self._worked()
        if raw is not None:
            stored_token, status, headers, body = decode_entry(raw)
            if stored_token == token:
                self._count("hit")
                return _replay(status, headers, body)
        self._count("miss")
        g.response_cache_pending = (key, token)
        return None

    def store_response(self, response):
        """``after_request``, before any other: keep a public 200 the view just made."""
        pending = g.pop("response_cache_pending", None)
        if pending is None or response.status_code != 200 or response.is_streamed:
            return response
        if "Set-Cookie" in response.headers:
            return response
        body = response.get_data()
        if len(body) > self.max_bytes:
            self.counts["too_large"].inc()
            return response
        key, token = pending
        headers = [[k, v] for k, v in response.headers.items() if k.lower() not in PER_CLIENT]
        if "Date" in response.headers:  # werkzeug's make_conditional adds one: fresh on replay
            headers.append(["Date", ""])
        try:
            self.store.set(key, encode_entry(token, 200, headers, body), timeout=self.seconds)
        except Exception as error:  # any store failure: served, not stored
            self._failed(error)
        return response

    def _current_token(self) -> int | None:
        """The generation token now, or None when the cache must not be used."""
        try:
            if not self.watch.settle():
                return None
            token = self.watch.read()
        except Exception as error:  # the database did not answer: bypass
            logger.debug("Generation unreadable (%s)", type(error).__name__)
            return None
        if token != self._seen_token:
            # Products changed somewhere: a total this worker kept may predate it,
            # and a page stored now would keep that total; count afresh.
            self._seen_token = token
            current_app.extensions["storefront.page_counts"].forget()
        return token

    def _count(self, outcome: str) -> None:
        self.counts[outcome].inc()


def _key(environ) -> str:
    """Everything of the request that changes the body, hashed (HEAD shares GET's)."""
    parts = (
        environ.get("wsgi.url_scheme", ""),
        environ.get("HTTP_HOST", ""),
        environ.get("SCRIPT_NAME", ""),
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
        environ.get("HTTP_ACCEPT", ""),
    )
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _replay(status: int, headers: list, body: bytes):
    """The stored response, or the 304 the view would answer for ``If-None-Match``."""
    response_class = current_app.response_class
    etag = next((value for name, value in headers if name.lower() == "etag"), None)
    if etag is not None and "HTTP_IF_NONE_MATCH" in request.environ:
        tag, _weak = unquote_etag(etag)
        if request.if_none_match.contains_weak(tag):
            kept = [(k, v) for k, v in headers if k.lower() in NOT_MODIFIED_HEADERS]
            return response_class(status=304, headers=kept)
    response = response_class(body, status=status, headers=headers)
    if "Date" in response.headers:
        response.headers["Date"] = http_date()
    return response


class _Null:
    """A counter that counts nothing (no ``METRICS_TOKEN``: no metrics)."""

    def inc(self) -> None:
        """Nothing."""


def _counters(app: Flask) -> dict:
    metrics = app.extensions.get("storefront.metrics")
    if metrics is None:
        return {name: _Null() for name in (*OUTCOMES, "too_large")}
    lookups = Counter(
        "response_cache_requests",
        "Cacheable reads by outcome: hit, miss (answered by the view), bypass (not cacheable "
        "now: credentials, conditions, store or generation unreachable)",
        ("outcome",),
        registry=metrics.registry,
    )
    too_large = Counter(
        "response_cache_too_large",
        "Misses not stored because the body is over RESPONSE_CACHE_MAX_KB",
        registry=metrics.registry,
    )
    return {**{name: lookups.labels(name) for name in OUTCOMES}, "too_large": too_large}


def register_generation(app: Flask) -> None:
    """Bump the catalog's generation after every committed product write of ``app``'s engine.

    Always on, whether or not this app caches: another instance on the same
    database may, and must see this one's writes.
    """
    with app.app_context():
        app.extensions[GENERATION] = watch_product_writes(db.engine)


def register_response_cache(app: Flask) -> None:
    """Serve public product reads from the cache, unless ``RESPONSE_CACHE`` is off.

    Call it last: its ``before_request`` hook must run after the request id and
    the rate limiter's (a hit is still counted, and can be a 429), and its
    ``after_request`` hook, registered last, runs first, on the response the
    view made, before compression and the per-client headers.
    """
    if not app.config["RESPONSE_CACHE"]:
        return
    cache = app.extensions[EXTENSION] = ResponseCache(app, app.extensions[GENERATION])
    app.before_request(cache.lookup)
    app.after_request(cache.store_response)
