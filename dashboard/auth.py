"""Who may see the dashboard: it shows customers' addresses, contacts and logins.

By default ``relaywatch serve`` binds to loopback. Serving on any other address needs either
``[dashboard] users`` (HTTP basic auth, passwords stored as werkzeug hashes) or an explicit
``--behind-proxy`` / ``behind_proxy = true`` (a reverse proxy in front does the auth).
Without users and without a proxy, only loopback clients are answered, whatever address the
server (``relaywatch serve`` or gunicorn) was bound to.

A password check (scrypt) costs about 80 ms of CPU and 32 MiB, by design. So that neither an
admin's page (some 20 requests) nor a flood of wrong passwords can run the server out of
CPU and memory, ``Gatekeeper`` remembers verified credentials for a few minutes (a keyed
digest of the header, never the password), lets each client address fail only a few times
before it answers 429 without checking, and runs only a few checks at once.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import flask
from werkzeug.security import check_password_hash, generate_password_hash

from analyzer.errors import ConfigError
from analyzer.settings.values import is_loopback

logger = logging.getLogger(__name__)

REALM = "relaywatch"
GATEKEEPER_KEY = "relaywatch.gatekeeper"

CACHE_SECONDS = 300.0  # a verified header is trusted this long, then checked again
CACHE_SIZE = 1024  # verified headers remembered (the least recently used go first)
FAILURES_ALLOWED = 10  # failed logins in a row a client address may have...
FAILURE_REFILL_SECONDS = 6.0  # ...and one more every this many seconds (10 a minute)
CLIENTS_TRACKED = 4096  # client addresses whose failures are counted
CONCURRENT_CHECKS = 2  # password checks at once (32 MiB each with scrypt): one per core
CHECK_WAIT_SECONDS = 10.0  # how long a login waits for a free check before 503


def check_exposure(
    host: str, users: Mapping[str, str], behind_proxy: bool, debug: bool = False
) -> None:
    """Refuse (``ConfigError``) to serve beyond loopback without authentication, and the
    debug mode anywhere but on loopback without users: its error pages and reloader are
    for a developer's own machine, not for a served dashboard."""
    if debug and (not is_loopback(host) or users or behind_proxy):
        raise ConfigError(
            f"refusing --debug on {host}{' with [dashboard] users' if users else ''}: debug "
            "mode is for loopback without users (no --host, no [dashboard.users])"
        )
    if is_loopback(host) or users or behind_proxy:
        return
    raise ConfigError(
        f"refusing to serve customers' data on {host} without authentication: add "
        "[dashboard] users (make a hash with `relaywatch hash-password NAME`) or, when a "
        "reverse proxy authenticates, pass --behind-proxy (or set [dashboard] behind_proxy "
        "= true)"
    )


def users_line(login: str, password: str) -> str:
    """The ``[dashboard.users]`` line for ``login``: valid TOML whatever the login holds
    (quotes, backslashes, new lines, any script), the password only as its hash."""
    from analyzer.outputs.starter import toml_string

    if not login:
        raise ConfigError("the login is empty")
    if ":" in login:  # basic auth splits "login:password" at the first colon
        raise ConfigError(f"the login {login!r} holds a ':', which HTTP basic auth cannot carry")
    try:
        login.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"the login {login!r} is not valid text (UTF-8)") from None
    return f"{toml_string(login)} = {toml_string(generate_password_hash(password))}"


def dummy_hashes(users: Mapping[str, str]) -> dict[str, str]:
    """One throwaway hash per method the users' hashes use (``scrypt:32768:8:1``, ...)."""
    methods = {hashed.split("$", 1)[0] for hashed in users.values()}
    return {m: generate_password_hash("relaywatch-no-such-user", method=m) for m in methods}


def password_ok(
    users: Mapping[str, str], login: str, password: str, dummies: Mapping[str, str]
) -> bool:
    """Check a login; an unknown login is checked against a dummy hash of the slowest
    method in use, so timing does not tell which logins exist."""
    hashed = users.get(login)
    slowest = max(dummies.values(), key=_cost) if dummies else ""
    valid = check_password_hash(hashed or slowest, password)
    return hashed is not None and valid


def _cost(hashed: str) -> int:
    numbers = [int(p) for p in hashed.split("$", 1)[0].replace(":", " ").split() if p.isdigit()]
    return max(numbers, default=0)


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    DENIED = "denied"  # wrong or no credentials: 401
    THROTTLED = "throttled"  # too many failures from this address: 429, nothing checked
    BUSY = "busy"  # no password check free in time: 503


def client_key(address: str | None) -> str:
    """Whose failures a request counts to: its address; for IPv6 its /64, which one host
    usually holds whole (so it cannot fail from a fresh address each time)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or ""
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


class Gatekeeper:
    """Basic-auth decisions for one app: a cache of verified headers, a budget of failures
    per client address (a token bucket) and a bound on password checks running at once.

    Only a request whose header was verified before skips the password check, so the cache
    tells nothing about which logins exist; it is keyed by an HMAC (a random key made per
    process) of the whole header, so no password is kept, not even as a plain digest.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
        cache_seconds: float = CACHE_SECONDS,
        cache_size: int = CACHE_SIZE,
        failures_allowed: int = FAILURES_ALLOWED,
        refill_seconds: float = FAILURE_REFILL_SECONDS,
        clients_tracked: int = CLIENTS_TRACKED,
        concurrent_checks: int = CONCURRENT_CHECKS,
        wait_seconds: float = CHECK_WAIT_SECONDS,
    ) -> None:
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._failures_allowed = failures_allowed
        self._refill_seconds = refill_seconds
        self._clients_tracked = clients_tracked
        self._wait_seconds = wait_seconds
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._checks = threading.BoundedSemaphore(concurrent_checks)
        # digest of a header -> (login, its hash when verified, expiry)
        self._verified: OrderedDict[bytes, tuple[str, str, float]] = OrderedDict()
        # client -> (failures still allowed, when that was counted, refused since it ran out)
        self._budgets: OrderedDict[str, tuple[float, float, bool]] = OrderedDict()
        self.replace_users(users)

    def replace_users(self, users: Mapping[str, str]) -> None:
        """New logins or hashes: everything verified before is forgotten."""
        with self._lock:
            self._users = dict(users)
            self._dummies = dummy_hashes(self._users)
            self._verified.clear()

    @property
    def remembered(self) -> int:
        """How many verified headers are remembered now."""
        return len(self._verified)

    def retry_after(self) -> int:
        """Seconds until a throttled client may try again."""
        return max(1, round(self._refill_seconds))

    def admit(self, header: str, login: str | None, password: str | None, client: str) -> Verdict:
        """Decide on one request: ``header`` is its raw Authorization header, ``login`` and
        ``password`` what it carries (None: not basic auth), ``client`` its
        ``client_key``."""
        digest = hmac.new(self._key, header.encode("utf-8", "surrogatepass"), "sha256").digest()
        now = self._clock()
        with self._lock:
            known = self._verified.get(digest)
            if known is not None:
                name, hashed, expiry = known
                if expiry > now and self._users.get(name) == hashed:
                    self._verified.move_to_end(digest)
                    return Verdict.ALLOWED
                del self._verified[digest]
            if login is None or password is None:
                return Verdict.DENIED  # nothing to check: costs nothing
            if not self._take_budget(client, now):
                return Verdict.THROTTLED
            users, dummies = self._users, self._dummies  # as they are now: checked against
        if not self._checks.acquire(timeout=self._wait_seconds):
            self._give_budget(client)
            return Verdict.BUSY
        try:
            ok = password_ok(users, login, password, dummies)
        finally:
            self._checks.release()
        if not ok:
            return Verdict.DENIED
        self._give_budget(client)
        with self._lock:
            if self._users is users:  # not replaced during the check
                self._verified[digest] = (login, users[login], now + self._cache_seconds)
                self._verified.move_to_end(digest)
                while len(self._verified) > self._cache_size:
                    self._verified.popitem(last=False)
        return Verdict.ALLOWED

    def _take_budget(self, client: str, now: float) -> bool:
        """Reserve one failure for ``client`` before its check (given back on success), so
        parallel requests cannot all slip past an almost spent budget (under the lock)."""
        full = float(self._failures_allowed)
        left, since, refused = self._budgets.get(client, (full, now, False))
        left = min(full, left + (now - since) / self._refill_seconds)
        if left < 1:
            if not refused:  # once per episode: a flood must not flood the log too
                logger.warning("too many failed logins from %s: refusing its logins", client)
            self._budgets[client] = (left, now, True)
            self._budgets.move_to_end(client)
            return False
        self._budgets[client] = (left - 1, now, refused and left < full)
        self._budgets.move_to_end(client)
        while len(self._budgets) > self._clients_tracked:
            self._budgets.popitem(last=False)
        return True

    def _give_budget(self, client: str) -> None:
        with self._lock:
            if client in self._budgets:
                left, since, refused = self._budgets[client]
                self._budgets[client] = (min(self._failures_allowed, left + 1), since, refused)


def guard(server: flask.Flask, users: Mapping[str, str], behind_proxy: bool) -> None:
    """Ask every request for one of ``users``; without users and without a proxy that
    authenticates, answer loopback clients only (whatever address the server is bound to)."""
    if not users:
        if not behind_proxy:
            server.before_request(_loopback_only)
        return
    gatekeeper = server.config[GATEKEEPER_KEY] = Gatekeeper(users)

    @server.before_request
    def _authenticate():
        request = flask.request
        auth = request.authorization
        basic = auth is not None and auth.type == "basic"
        verdict = gatekeeper.admit(
            request.headers.get("Authorization", ""),
            (auth.username or "") if basic else None,
            (auth.password or "") if basic else None,
            # the socket's peer: no header (X-Forwarded-For...) is trusted, proxy or not
            client_key(request.environ.get("REMOTE_ADDR")),
        )
        if verdict is Verdict.ALLOWED:
            return None
        if verdict is Verdict.THROTTLED:
            wait = gatekeeper.retry_after()
            return flask.Response(
                f"Too many failed logins from your address: try again in {wait} s.\n",
                429,
                {"Retry-After": str(wait)},
            )
        if verdict is Verdict.BUSY:
            return flask.Response("Busy checking logins: try again.\n", 503, {"Retry-After": "1"})
        return flask.Response(
            "Authentication required.\n",
            401,
            {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )


def _loopback_only():
    if not is_loopback(flask.request.environ.get("REMOTE_ADDR") or ""):
        return flask.Response(
            "This dashboard answers only this machine: it has no [dashboard] users.\n", 403
        )
    return None
