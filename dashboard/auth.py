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
# Checked when the login is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("relaywatch-no-such-user")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(host: str, users: Mapping[str, str], behind_proxy: bool) -> None:
    """Refuse to serve beyond loopback without authentication (``ConfigError``)."""
    if is_loopback(host) or users or behind_proxy:
        return
    raise ConfigError(
        f"refusing to serve customers' data on {host} without authentication: add "
        "[dashboard] users (make a hash with `relaywatch hash-password NAME`) or, when a "
        "reverse proxy authenticates, pass --behind-proxy"
    )


def password_ok(users: Mapping[str, str], login: str, password: str) -> bool:
    hashed = users.get(login)
    valid = check_password_hash(hashed or _DUMMY_HASH, password)
    return hashed is not None and valid


def require_basic_auth(server: flask.Flask, users: Mapping[str, str]) -> None:
    """Ask every request for one of ``users`` (no-op when there are none)."""
    if not users:
        return

    @server.before_request
    def _authenticate():
        auth = flask.request.authorization
        if (
            auth is not None
            and auth.type == "basic"
            and password_ok(users, auth.username or "", auth.password or "")
        ):
            return None
        return flask.Response(
            "Authentication required.\n",
            401,
            {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )
