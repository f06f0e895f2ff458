"""Who may see the dashboard: it shows customers' addresses, contacts and logins.

By default ``relaywatch serve`` binds to loopback. Serving on any other address needs either
``[dashboard] users`` (HTTP basic auth, passwords stored as werkzeug hashes) or an explicit
``--behind-proxy`` / ``behind_proxy = true`` (a reverse proxy in front does the auth).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import flask
from werkzeug.security import check_password_hash, generate_password_hash

from analyzer.errors import ConfigError

REALM = "relaywatch"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(
    host: str, users: Mapping[str, str], behind_proxy: bool, debug: bool = False
) -> None:
    """Refuse to serve beyond loopback without authentication, or with the debugger (it
    answers before any authentication runs) (``ConfigError``)."""
    if debug and not is_loopback(host):
        raise ConfigError(f"refusing --debug on {host}: the debugger runs code; use loopback")
    if is_loopback(host) or users or behind_proxy:
        return
    raise ConfigError(
        f"refusing to serve customers' data on {host} without authentication: add "
        "[dashboard] users (make a hash with `relaywatch hash-password NAME`) or, when a "
        "reverse proxy authenticates, pass --behind-proxy"
    )


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


def require_basic_auth(server: flask.Flask, users: Mapping[str, str]) -> None:
    """Ask every request for one of ``users`` (no-op when there are none)."""
    if not users:
        return
    dummies = dummy_hashes(users)

    @server.before_request
    def _authenticate():
        auth = flask.request.authorization
        if (
            auth is not None
            and auth.type == "basic"
            and password_ok(users, auth.username or "", auth.password or "", dummies)
        ):
            return None
        return flask.Response(
            "Authentication required.\n",
            401,
            {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )
