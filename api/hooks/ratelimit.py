"""Rate limits: fixed windows counted with ``limits``, declared on resources.

Whom a limit counts: a caller with a valid access token is counted as its user,
wherever it connects from (``user:<id>``); anyone else by address (``ip:<addr>``).
Users behind one NAT or proxy therefore get a budget each, and a user cannot
multiply theirs by switching networks. The stricter limits on anonymous
endpoints (login, register) always count by address.

What is counted: every request routed to an endpoint, against that endpoint's
own budget per caller: the resource's declared limit (``limited_by``), else
``RATELIMIT_DEFAULT``. Not counted: static files, ``unlimited`` resources
(health probes), views passed to ``exempt`` (``/metrics``), requests a
``request_filter`` picks out (CORS preflights), and unrouted requests (404,
405). The count happens in a ``before_request`` hook, so a spent budget is a
429 problem (with ``Retry-After``) before the operation runs; every counted
response carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``.

Where: in Redis when ``REDIS_URL`` is set, shared by every worker and instance.
Without it, the declared limits, which guard login and registration against
guessing, count in the app's database, so that they hold for an instance
however many workers it runs (and for every instance on one database) with
nothing to set up; the default limit counts in each worker's memory, at no
cost, so a client gets that generous budget from each worker.

This replaces flask-limiter, whose per-request machinery (resolving limits and
exemption scopes, its context object, header injection) cost several times
what the count itself does. The storage keys are the ones flask-limiter wrote,
so counters in a shared Redis carry over a rolling upgrade.
"""

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from flask import Flask, current_app, g, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from limits import RateLimitItem
from limits.storage import RedisStorage, storage_from_string
from sqlalchemy.exc import SQLAlchemyError

from api.config import rate_limits
from api.errors import ApiProblem
from models import db
from models.ratelimit import count_hit, forget_ended_windows

DEFAULT_LIMIT = "RATELIMIT_DEFAULT"
EXTENSION = "storefront.limiter"
VERIFIED_TOKENS = "storefront.limiter.verified"
# Tokens whose verification is remembered: far more than the users one
# worker sees in a token's lifetime, and ~2 MB at most.
VERIFIED_TOKENS_SIZE = 4096
# While Redis is unreachable, how often a request asks whether it is back.
RECHECK_SECONDS = 10
# How often in-process counters drop the windows that have ended.
SWEEP_SECONDS = 60

logger = logging.getLogger("api.ratelimit")


def address_key() -> str:
    """The caller's address as a rate-limit key.

    ``request.remote_addr`` is the peer's address, or the client's as the proxy
    reports it once ``ProxyFix`` is installed (``BEHIND_PROXY``); a client cannot
    choose it by sending ``X-Forwarded-For`` itself. A server on a Unix socket
    sees no address; such callers share one key, as flask-limiter had them.
    """
    return f"ip:{request.remote_addr or '127.0.0.1'}"


def client_key() -> str:
    """The caller as a rate-limit key: its user with a valid access token, else its address.

    This runs before authentication and must never fail the request: a missing,
    malformed, expired or badly signed token just means the address is the key,
    and the operation then answers 401 as usual. ``decode_token`` verifies the
    signature and expiry, so a forged token can neither spend another user's
    budget nor mint a fresh one. It does not consult the blocklist (that would
    add a lookup to every request): a revoked access token keeps counting as its
    user until it expires, which only spends its own user's budget. Refresh
    tokens are not accepted for this, as they live for weeks.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        subject = _access_token_subject(token.strip())
        if subject is not None:
            return f"user:{subject}"
    return address_key()


def _access_token_subject(token: str) -> str | None:
    """The subject of ``token`` if it is a valid access token now, else None.

    Verifying a token costs ~100 µs (more than the rest of a point read's
    counting), and a client sends the same token with every request until it
    expires. So the outcome of verifying each token string is remembered per
    app: the same string has the same signature, so only its expiry needs
    checking again. Invalid strings are not remembered (anyone can make new
    ones), and the memo is bounded.
    """
    memo = current_app.extensions.setdefault(VERIFIED_TOKENS, {})
    known = memo.get(token)
    if known is None:
        try:
            claims = decode_token(token)
        except (PyJWTError, JWTExtendedException):
            return None
        if claims.get("type") != "access":
            return None
        known = (claims["sub"], claims.get("exp", math.inf))
        if len(memo) >= VERIFIED_TOKENS_SIZE:
            memo.clear()
        memo[token] = known
    subject, expires = known
    return subject if time.time() < expires else None


def limited_by(setting: str, *, key: Callable[[], str] = address_key, budget: str | None = None):
    """Class decorator: limit a resource by the config ``setting`` (e.g. ``RATELIMIT_LOGIN``).

    Such limits guard anonymous endpoints against brute force, so they count by
    address (``key``) by default: otherwise a caller could attach the token of
    each account it registers and get a fresh budget of password guesses per account.

    Each endpoint counts against a budget of its own, unless ``budget`` names
    one that several share: the endpoints that all take a password (JSON and
    form login) spend one, or two doors would double the guesses.
    """

    def decorate(resource_class):
        resource_class.rate_limit = setting
        resource_class.rate_limit_key = key
        resource_class.rate_limit_budget = budget
        return resource_class

    return decorate


def spend_attempt(setting: str, budget: str) -> None:
    """Count one attempt of the caller against ``setting`` in ``budget`` (``Limiter.spend``).

    Does nothing with ``RATELIMIT_ENABLED`` off, as the hooks do.
    """
    if current_app.config["RATELIMIT_ENABLED"]:
        current_app.extensions[EXTENSION].spend(setting, budget)


def unlimited(resource_class):
    """Class decorator: exempt a resource from every limit (health probes)."""
    resource_class.rate_limit = None
    return resource_class


class Rule(NamedTuple):
    """An endpoint's limits, smallest window first, whom they count, where, and in which budget.

    ``budget`` names the counters; None means the endpoint's own.
    """

    limits: tuple[RateLimitItem, ...]
    key: Callable[[], str]
    windows: "Windows"
    budget: str | None = None


def parse_limits(config, setting: str) -> tuple[RateLimitItem, ...]:
    """The limits in ``config[setting]`` (``api.config.rate_limits``), smallest window first."""
    limits = rate_limits(setting, config[setting])
    return tuple(sorted(limits, key=lambda limit: limit.get_expiry()))


class LocalWindows:
    """Fixed-window counters in this process's memory, for one worker alone.

    Not ``limits``' ``MemoryStorage``: that one starts a thread every 10 ms to
    scan every key for expiry, which cost about 30 µs a request with few
    callers and 200 µs with 100,000. Here a window that has ended is simply
    restarted on its next hit, and ended ones are dropped once a minute.
    """

    def __init__(self):
        self._windows: dict[str, list] = {}  # key: [count, end of window (epoch seconds)]
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def hit(self, key: str, seconds: int) -> tuple[int, float]:
        """Count a hit on ``key``; return the window's count and its end."""
        now = time.time()
        with self._lock:
            window = self._windows.get(key)
            if window is None or window[1] <= now:
                if now >= self._next_sweep:
                    self._windows = {k: w for k, w in self._windows.items() if w[1] > now}
                    self._next_sweep = now + SWEEP_SECONDS
                window = self._windows[key] = [0, now + seconds]
            window[0] += 1
            return window[0], window[1]


class SharedWindows:
    """Fixed-window counters in a ``limits`` storage (Redis), shared by every worker and instance.

    ``key_prefix`` (``REDIS_KEY_PREFIX``) goes in front of every key it writes.

    Should the storage become unreachable, requests are counted in process
    (logged once) until a check, one every ``RECHECK_SECONDS``, finds it back:
    never a 500, and never unlimited.
    """

    def __init__(self, uri: str, key_prefix: str = ""):
        # limits names its keys ``LIMITS:<key>``; a deployment's prefix goes in
        # front of that, and without one the keys stay as they always were.
        options = {"key_prefix": key_prefix + RedisStorage.PREFIX} if key_prefix else {}
        self.storage = storage_from_string(uri, **options)
        self._local = LocalWindows()
        self._up = True
        self._next_check = 0.0
        self._lock = threading.Lock()

    def hit(self, key: str, seconds: int) -> tuple[int, float]:
        """Count a hit on ``key``; return the window's count and its end."""
        if self._up or self._is_back():
            try:
                count = self.storage.incr(key, seconds)
                return count, self.storage.get_expiry(key)
            except self.storage.base_exceptions as error:
                self._failed(error)
        return self._local.hit(key, seconds)

    def _failed(self, error: Exception) -> None:
        with self._lock:  # threads failing at once log it once
            if self._up:
                self._up = False
                self._next_check = time.monotonic() + RECHECK_SECONDS
                logger.warning(
                    "Rate-limit storage unreachable (%s); counting in process until it is back",
                    error,
                )

    def _is_back(self) -> bool:
        with self._lock:  # one request asks, the others go on counting in process
            if self._up or time.monotonic() < self._next_check:
                return self._up
            self._next_check = time.monotonic() + RECHECK_SECONDS
        if self.storage.check():
            self._up = True
            logger.info("Rate-limit storage is back; counting there again")
        return self._up


class DatabaseWindows:
    """Fixed-window counters in the app's database, shared by every worker and instance on it.

    The declared limits' store when there is no Redis. A counted request costs
    one small write in a transaction of its own (a login then verifies an
    argon2 hash, which costs far more), and windows that have ended are
    deleted once a minute. Should the database fail, requests are counted in
    process (logged once) until a check, one every ``RECHECK_SECONDS``, finds
    it back: never a 500 from counting, and never unlimited.
    """

    def __init__(self):
        self._local = LocalWindows()
        self._up = True
        self._next_check = 0.0
        self._next_sweep = 0.0
        self._lock = threading.Lock()

    def hit(self, key: str, seconds: int) -> tuple[int, float]:
        """Count a hit on ``key``; return the window's count and its end."""
        if self._up or self._time_to_check():
            now = time.time()
            try:
                with db.engine.begin() as connection:
                    if now >= self._next_sweep:
                        self._next_sweep = now + SWEEP_SECONDS
                        forget_ended_windows(connection, now=now)
                    counted = count_hit(connection, key=key, seconds=seconds, now=now)
            except SQLAlchemyError as error:
                self._failed(error)
            else:
                self._back()
                return counted
        return self._local.hit(key, seconds)

    def _failed(self, error: Exception) -> None:
        with self._lock:  # threads failing at once log it once
            self._next_check = time.monotonic() + RECHECK_SECONDS
            if self._up:
                self._up = False
                # The type only: a database's message may quote the statement's values.
                logger.warning(
                    "Rate-limit counting in the database failed (%s); counting in process "
                    "until it works again",
                    type(error).__name__,
                )

    def _time_to_check(self) -> bool:
        with self._lock:  # one request tries the database, the others go on counting in process
            if self._up or time.monotonic() < self._next_check:
                return self._up
            self._next_check = time.monotonic() + RECHECK_SECONDS
            return True

    def _back(self) -> None:
        if not self._up:
            self._up = True
            logger.info("Rate-limit counting in the database works again; counting there")


Windows = LocalWindows | SharedWindows | DatabaseWindows


class Limiter:
    """One app's rate limits: which endpoints count, against which limits, and where.

    Built by ``register_rate_limits``; other modules reach it in
    ``app.extensions["storefront.limiter"]`` to ``exempt`` a view or add a
    ``request_filter``. Per-request state lives in ``flask.g`` and the counters
    are thread-safe, so one limiter serves every thread.
    """

    def __init__(self, app: Flask):
        config = app.config
        uri = config["RATELIMIT_STORAGE_URI"]
        in_process = uri.startswith("memory://")
        self.windows = (
            LocalWindows()
            if in_process
            else SharedWindows(uri, key_prefix=config.get("REDIS_KEY_PREFIX") or "")
        )
        # The declared limits guard against guessing: without Redis, one budget
        # for every worker is the database's to keep, not each worker's.
        self.strict_windows = DatabaseWindows() if in_process else self.windows
        self.default = Rule(parse_limits(config, DEFAULT_LIMIT), client_key, self.windows)
        # Endpoints whose resource declares a limit of its own (``limited_by``).
        self.rules: dict[str, Rule] = {}
        # Limits spent from inside an operation (``spend``), by setting.
        self._spending: dict[str, Rule] = {}
        # Windows a caller has spent, to their end: refused without asking the store again.
        self._spent: dict[str, float] = {}
        self._next_sweep = 0.0
        # Apps sharing one Redis for different purposes keep apart by prefix.
        prefix = config.get("RATELIMIT_KEY_PREFIX")
        self._prefix = (prefix,) if prefix else ()
        # The app's own dict, so that views added later are seen too.
        self._views = app.view_functions
        self._exempt: set[Callable] = set()
        self._filters: list[Callable[[], bool]] = []

    def exempt(self, view: Callable) -> Callable:
        """Never count requests to ``view`` (a view function, registered now or later)."""
        self._exempt.add(view)
        return view

    def request_filter(self, predicate: Callable[[], bool]) -> Callable[[], bool]:
        """Never count a request for which ``predicate()`` is true (CORS preflights)."""
        self._filters.append(predicate)
        return predicate

    def rule_for(self, endpoint: str | None) -> Rule | None:
        """The rule that counts the current request to ``endpoint``, or None if none does."""
        # An unrouted request (404, 405) has no endpoint; static files are
        # ``static`` or ``<blueprint>.static``.
        if endpoint is None or endpoint.rpartition(".")[2] == "static":
            return None
        if self._views.get(endpoint) in self._exempt or any(f() for f in self._filters):
            return None
        return self.rules.get(endpoint, self.default)

    def check_request(self) -> None:
        """``before_request``: count the request; a 429 problem when a limit is spent."""
        endpoint = request.endpoint
        rule = self.rule_for(endpoint)
        if rule is not None:
            self._count(rule, rule.budget or endpoint)

    def spend(self, setting: str, budget: str) -> None:
        """Count one attempt of the caller (``client_key``) against ``setting`` in ``budget``.

        For an operation under the default limit that sometimes checks a
        password (``PATCH /users/{id}`` with ``current_password``): that
        attempt must spend the budget of the doors built for it, or it is a way
        around them. A 429 problem when the budget is spent.
        """
        rule = self._spending.get(setting)
        if rule is None:
            rule = Rule(parse_limits(current_app.config, setting), client_key, self.strict_windows)
            self._spending[setting] = rule
        self._count(rule, budget)

    def _count(self, rule: Rule, budget: str) -> None:
        # flask-limiter's key layout, so that counters survive the switch:
        # LIMITER/[prefix/]caller/endpoint (or shared budget)/amount/multiples/granularity.
        caller = (*self._prefix, rule.key(), budget)
        shown = None
        for limit in rule.limits:
            key = limit.key_for(*caller)
            count, window_end = self._hit(rule.windows, key, limit)
            allowed = count <= limit.amount
            remaining = max(0, limit.amount - count)
            # The headers describe the limit the caller is closest to, or the one it broke.
            if shown is None or not allowed or remaining < shown[1]:
                shown = (limit, remaining, window_end)
            if not allowed:
                break
        limit, remaining, window_end = shown
        g.rate_limit_headers = (
            ("X-RateLimit-Limit", str(limit.amount)),
            ("X-RateLimit-Remaining", str(remaining)),
            # Whole seconds, rounded up: a fresh window has begun by then.
            ("X-RateLimit-Reset", str(int(window_end) + 1)),
        )
        if not allowed:
            retry_after = max(1, math.ceil(window_end - time.time()))
            raise ApiProblem(
                429,
                f"Rate limit exceeded ({limit}); retry after Retry-After seconds",
                headers={"Retry-After": str(retry_after)},
            )

    def _hit(self, windows: Windows, key: str, limit: RateLimitItem) -> tuple[int, float]:
        """Count a hit in ``windows``; in the database's, not once the window is spent.

        A fixed window stays spent until it ends, so a caller over a limit kept
        in the database is refused from memory until then: a flood of attempts
        writes nothing. Counts in memory cost nothing, and in Redis little, and
        a Redis window must be asked again once Redis is back from an outage.
        """
        if not isinstance(windows, DatabaseWindows):
            return windows.hit(key, limit.get_expiry())
        now = time.time()
        spent_until = self._spent.get(key)
        if spent_until is not None and now < spent_until:
            return limit.amount + 1, spent_until
        count, window_end = windows.hit(key, limit.get_expiry())
        if count > limit.amount:
            if now >= self._next_sweep:  # forget the windows that have ended
                self._spent = {k: end for k, end in self._spent.items() if end > now}
                self._next_sweep = now + SWEEP_SECONDS
            self._spent[key] = window_end
        return count, window_end

    def add_headers(self, response):
        """``after_request``: the counted request's ``X-RateLimit-*`` headers, 429s included."""
        # ``add``, not ``update``: nothing else sets these, and it need not scan the others.
        for name, value in g.get("rate_limit_headers", ()):
            response.headers.add(name, value)
        return response


def register_rate_limits(app: Flask) -> Limiter:
    """Build the app's limiter and apply each registered resource's declared limit.

    Call it after the API is registered: the declared limits are read from the
    resources registered by then (later routes get the default). Limits are
    parsed here, once. Counters live in ``RATELIMIT_STORAGE_URI``, Redis when
    ``REDIS_URL`` is set, so that every worker and instance shares them; by
    default the declared limits count in the database and the default one in
    process (the module's docstring says why). With ``RATELIMIT_ENABLED`` off
    nothing is counted, at no cost per request.
    """
    config = app.config
    limiter = Limiter(app)
    for endpoint, view in app.view_functions.items():
        view_class = getattr(view, "view_class", None)
        setting = getattr(view_class, "rate_limit", DEFAULT_LIMIT)
        if setting is None:
            limiter.exempt(view)
        elif setting != DEFAULT_LIMIT:
            limiter.rules[endpoint] = Rule(
                parse_limits(config, setting),
                view_class.rate_limit_key,
                limiter.strict_windows,
                getattr(view_class, "rate_limit_budget", None),
            )
    if config["RATELIMIT_ENABLED"]:
        app.before_request(limiter.check_request)
        app.after_request(limiter.add_headers)
    app.extensions[EXTENSION] = limiter
    return limiter
