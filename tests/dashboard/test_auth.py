"""Access to the dashboard: loopback by default, basic auth with hashed passwords, or an
explicit --behind-proxy; never customers' data on an open address by accident."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from click.testing import CliRunner
from werkzeug.security import check_password_hash, generate_password_hash

from analyzer.cli import cli
from analyzer.errors import ConfigError
from analyzer.settings.config import DEMO_CONFIG, load_settings
from dashboard.app import create_app
from dashboard.auth import check_exposure
from dashboard.data import load_data

USERS = {"alice": generate_password_hash("correct horse")}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_auth(host):
    check_exposure(host, {}, behind_proxy=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "dash.provider.example"])
def test_other_addresses_need_users_or_a_proxy(host):
    with pytest.raises(ConfigError, match="without authentication"):
        check_exposure(host, {}, behind_proxy=False)
    check_exposure(host, USERS, behind_proxy=False)
    check_exposure(host, {}, behind_proxy=True)


def test_serve_on_an_open_address_is_one_line_and_status_2():
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8999"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--behind-proxy" in result.stderr
    assert "Traceback" not in result.output


def test_a_plain_password_in_the_config_is_refused_without_showing_it(tmp_path):
    config = tmp_path / "relaywatch.toml"
    config.write_text('[dashboard.users]\nalice = "hunter2-plain"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})
    assert "dashboard.users.alice" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_hash_password_prints_a_config_line():
    result = CliRunner().invoke(cli, ["hash-password", "bob", "--password", "pa55 word"])
    assert result.exit_code == 0
    line = result.stdout.strip()
    assert line.startswith('"bob" = "scrypt:')
    assert check_password_hash(line.split(" = ")[1].strip('"'), "pa55 word")
    assert "pa55 word" not in line


@pytest.fixture(scope="module")
def client():
    settings = load_settings(DEMO_CONFIG, environ={})
    guarded = dataclasses.replace(
        settings, dashboard=dataclasses.replace(settings.dashboard, users=USERS)
    )
    app = create_app(guarded, load_data(settings, dns=False))
    return app.server.test_client()


def _basic(login: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("path", ["/", "/risk", "/_dash-layout", "/_dash-update-component"])
def test_every_path_asks_for_credentials(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="relaywatch"')
    assert b"sales@bluebird" not in response.data


@pytest.mark.parametrize(
    ("login", "password"), [("alice", "wrong"), ("mallory", "correct horse"), ("", "")]
)
def test_wrong_credentials_are_refused(client, login, password):
    assert client.get("/", headers=_basic(login, password)).status_code == 401


def test_right_credentials_get_the_page(client):
    response = client.get("/_dash-layout", headers=_basic("alice", "correct horse"))
    assert response.status_code == 200
    assert b"relaywatch" in response.data


def test_debug_mode_is_refused_off_loopback_even_with_users():
    with pytest.raises(ConfigError, match="--debug"):
        check_exposure("0.0.0.0", USERS, behind_proxy=False, debug=True)
    check_exposure("127.0.0.1", {}, behind_proxy=False, debug=True)


def test_unknown_logins_are_checked_against_the_slowest_method_in_use():
    from dashboard.auth import dummy_hashes, password_ok

    users = {
        "old": generate_password_hash("pw", method="pbkdf2:sha256:600000"),
        "new": generate_password_hash("pw"),
    }
    dummies = dummy_hashes(users)
    assert {h.split("$")[0] for h in dummies.values()} == {h.split("$")[0] for h in users.values()}
    assert password_ok(users, "old", "pw", dummies) and password_ok(users, "new", "pw", dummies)
    assert not password_ok(users, "nobody", "pw", dummies)


def test_behind_proxy_serves_but_warns_to_keep_the_port_closed(monkeypatch):
    import dash

    started = {}
    monkeypatch.setattr(dash.Dash, "run", lambda self, **kw: started.update(kw))
    monkeypatch.setattr(
        "dashboard.app.load_data",
        lambda settings, progress, dns: load_data(settings, dns=False),
    )
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--behind-proxy", "--no-dns"])
    assert result.exit_code == 0, result.output
    assert started["host"] == "0.0.0.0"
    assert "warning: no own authentication on 0.0.0.0" in result.stderr


# --- a flood of logins cannot take the dashboard down (issue 17, A) -----------------------------

CHEAP = "pbkdf2:sha256:1"  # a fast hash for the Gatekeeper's own tests


@pytest.fixture(scope="module")
def demo_data():
    return load_data(load_settings(DEMO_CONFIG, environ={}), dns=False)


def guarded_app(demo_data, users=USERS):
    settings = demo_data.settings
    guarded = dataclasses.replace(
        settings, dashboard=dataclasses.replace(settings.dashboard, users=users)
    )
    return create_app(guarded, demo_data)


@pytest.fixture
def checks(monkeypatch):
    """Every password check the dashboard runs, counted."""
    import dashboard.auth

    made = []
    real = dashboard.auth.check_password_hash

    def counted(hashed, password):
        made.append(hashed)
        return real(hashed, password)

    monkeypatch.setattr(dashboard.auth, "check_password_hash", counted)
    return made


def test_a_verified_header_is_remembered_so_the_next_requests_skip_the_check(demo_data, checks):
    client = guarded_app(demo_data).server.test_client()
    header = _basic("alice", "correct horse")
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/"):
        assert client.get(path, headers=header).status_code == 200
    assert len(checks) == 1  # one scrypt for the page, not one per request
    assert client.get("/", headers=_basic("alice", "correct horsE")).status_code == 401
    assert len(checks) == 2  # a different header is checked


def test_a_client_that_fails_too_often_is_refused_without_a_check(demo_data, checks):
    from dashboard.auth import FAILURES_ALLOWED

    client = guarded_app(demo_data).server.test_client()
    admin = _basic("alice", "correct horse")
    assert (
        client.get("/", headers=admin, environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 200
    )
    attacker = {"REMOTE_ADDR": "192.0.2.66"}
    wrong = _basic("alice", "guess")
    statuses = [
        client.get("/", headers=wrong, environ_base=attacker).status_code
        for _ in range(FAILURES_ALLOWED + 5)
    ]
    assert statuses == [401] * FAILURES_ALLOWED + [429] * 5
    assert len(checks) == 1 + FAILURES_ALLOWED  # the refused ones cost no scrypt
    refused = client.get("/", headers=wrong, environ_base=attacker)
    assert int(refused.headers["Retry-After"]) > 0
    assert b"sales@bluebird" not in refused.data
    # a forged X-Forwarded-For changes nothing: the limit keys on the socket's peer
    forged = {**wrong, "X-Forwarded-For": "198.51.100.1"}
    assert client.get("/", headers=forged, environ_base=attacker).status_code == 429
    # another address still gets its check; the admin, verified before, is never throttled
    other = client.get("/", headers=wrong, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 401
    assert client.get("/", headers=admin, environ_base=attacker).status_code == 200
    assert len(checks) == 2 + FAILURES_ALLOWED


def test_failures_are_forgiven_over_time_and_ipv6_counts_per_64():
    from dashboard.auth import Gatekeeper, Verdict, client_key

    now = [0.0]
    gate = Gatekeeper(
        {"bob": generate_password_hash("pw", method=CHEAP)},
        clock=lambda: now[0],
        failures_allowed=2,
        refill_seconds=10,
    )
    one = client_key("2001:db8:1:2::5")
    assert one == client_key("2001:db8:1:2:ffff::9") != client_key("2001:db8:1:3::5")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"

    def attempt(password="nope", client=one):
        header = f"Basic {password}"  # the header only keys the cache
        return gate.admit(header, "bob", password, client)

    assert [attempt(), attempt(), attempt()] == [Verdict.DENIED] * 2 + [Verdict.THROTTLED]
    assert attempt("pw") is Verdict.THROTTLED  # even the right password waits its turn
    now[0] = 10.0
    assert attempt() is Verdict.DENIED and attempt() is Verdict.THROTTLED
    now[0] = 20.0
    assert attempt("pw") is Verdict.ALLOWED
    assert attempt("pw") is Verdict.ALLOWED  # from the cache: no budget needed


def test_a_remembered_header_expires_and_changed_users_forget_it(monkeypatch):
    import dashboard.auth
    from dashboard.auth import Gatekeeper, Verdict

    checked = []
    real = dashboard.auth.check_password_hash
    monkeypatch.setattr(
        dashboard.auth, "check_password_hash", lambda h, p: checked.append(h) or real(h, p)
    )
    now = [0.0]
    gate = Gatekeeper(
        {"bob": generate_password_hash("pw", method=CHEAP)},
        clock=lambda: now[0],
        cache_seconds=300,
    )
    header = _basic("bob", "pw")["Authorization"]
    assert gate.admit(header, "bob", "pw", "192.0.2.1") is Verdict.ALLOWED
    now[0] = 299.0
    assert gate.admit(header, "bob", "pw", "192.0.2.1") is Verdict.ALLOWED
    assert len(checked) == 1
    now[0] = 301.0  # expired: checked again
    assert gate.admit(header, "bob", "pw", "192.0.2.1") is Verdict.ALLOWED
    assert len(checked) == 2
    gate.replace_users({"bob": generate_password_hash("new", method=CHEAP)})
    assert gate.admit(header, "bob", "pw", "192.0.2.1") is Verdict.DENIED
    assert gate.remembered == 0


def test_the_cache_of_verified_headers_is_bounded():
    from dashboard.auth import Gatekeeper, Verdict

    users = {f"user{i}": generate_password_hash("pw", method=CHEAP) for i in range(20)}
    gate = Gatekeeper(users, cache_size=5)
    for login in users:
        header = _basic(login, "pw")["Authorization"]
        assert gate.admit(header, login, "pw", "192.0.2.1") is Verdict.ALLOWED
        assert gate.remembered <= 5
    assert gate.remembered == 5
    assert not any(b"pw" in digest for digest in gate._verified)  # keyed digests only


def test_the_failure_counts_are_bounded_too():
    from dashboard.auth import Gatekeeper

    gate = Gatekeeper({"bob": generate_password_hash("pw", method=CHEAP)}, clients_tracked=8)
    for i in range(50):
        gate.admit("Basic x", "bob", "wrong", f"198.51.100.{i}")
    assert len(gate._budgets) == 8


def test_only_a_few_password_checks_run_at_once(monkeypatch):
    """Each check holds 32 MiB (scrypt): a flood from many addresses waits its turn, and
    one that waits too long is answered 503, never with a check."""
    import threading
    import time

    import dashboard.auth
    from dashboard.auth import Gatekeeper, Verdict

    running, most = [0], [0]
    lock = threading.Lock()

    def slow_check(hashed, password):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return False

    monkeypatch.setattr(dashboard.auth, "check_password_hash", slow_check)
    gate = Gatekeeper({"bob": "pbkdf2:sha256:1$x$y"}, concurrent_checks=2, wait_seconds=0.01)
    verdicts = []

    def attempt(i):
        verdicts.append(gate.admit("Basic x", "bob", "wrong", f"198.51.100.{i}"))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 2
    assert Verdict.BUSY in verdicts and Verdict.DENIED in verdicts
    assert set(verdicts) == {Verdict.BUSY, Verdict.DENIED}


def test_requests_without_basic_credentials_cost_no_check(demo_data, checks):
    client = guarded_app(demo_data).server.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer abc"}).status_code == 401
    assert checks == []


# --- debug mode never opens werkzeug's console (issue 17, B) ------------------------------------


def test_debug_is_refused_with_users_or_beyond_loopback(tmp_path):
    config = tmp_path / "relaywatch.toml"
    config.write_text(f'[dashboard.users]\nalice = "{USERS["alice"]}"\n', encoding="utf-8")
    for args in (["--config", str(config)], ["--host", "0.0.0.0"], ["--behind-proxy"]):
        result = CliRunner().invoke(cli, ["serve", "--debug", "--port", "8998", *args])
        assert result.exit_code == 2, args
        assert result.stderr.count("\n") == 1 and "--debug" in result.stderr


def test_serve_debug_answers_no_werkzeug_console(tmp_path):
    """A real `relaywatch serve --debug`: werkzeug's debugger (its /console and its
    resources) is never served; /console is just a path of the dashboard's own pages."""
    import contextlib
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "serve", "--debug", "--no-dns", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the reloader's child too is ended below
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.5)
        for path in ("/console", "/console?__debugger__=yes&cmd=resource&f=debugger.js"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as got:
                    body = got.read()
            except urllib.error.HTTPError as error:
                body = error.read()
            assert b"CONSOLE_MODE" not in body and b"docReady" not in body, path
            assert b"DashRenderer" in body, path  # the dashboard's page, not the debugger's
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server.stderr.close()


# --- gunicorn refuses what serve refuses (issue 17, C) ------------------------------------------


def test_the_wsgi_entry_refuses_an_exposed_config_at_import(tmp_path, monkeypatch):
    import importlib
    import sys

    config = tmp_path / "relaywatch.toml"
    config.write_text('[dashboard]\nhost = "0.0.0.0"\n', encoding="utf-8")
    monkeypatch.setenv("RELAYWATCH_CONFIG", str(config))
    monkeypatch.delitem(sys.modules, "dashboard.wsgi", raising=False)
    with pytest.raises(ConfigError, match="refusing to serve customers' data on 0.0.0.0"):
        importlib.import_module("dashboard.wsgi")


def test_without_users_or_a_proxy_only_loopback_clients_are_answered(demo_data):
    """gunicorn may be bound anywhere (`--bind 0.0.0.0`): without users the app itself
    answers loopback clients only."""
    client = create_app(demo_data.settings, demo_data).server.test_client()
    assert client.get("/").status_code == 200
    outside = client.get("/_dash-layout", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert outside.status_code == 403 and b"sales@bluebird" not in outside.data
    forged = {"X-Forwarded-For": "127.0.0.1"}
    assert (
        client.get("/", headers=forged, environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code
        == 403
    )
    proxied = dataclasses.replace(
        demo_data.settings,
        dashboard=dataclasses.replace(demo_data.settings.dashboard, behind_proxy=True),
    )
    behind = create_app(proxied, demo_data).server.test_client()
    assert behind.get("/", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 200


# --- hash-password writes valid TOML for any login (issue 17, D) --------------------------------


@pytest.mark.parametrize(
    "login", ['a"b', "back\\slash", "new\nline", "ünïcødé 東京", "tab\there", "del\x7f", "x = 1"]
)
def test_hash_password_writes_valid_toml_for_any_login(login):
    import tomllib

    result = CliRunner().invoke(cli, ["hash-password", login, "--password", "pw"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1  # one line: no extra TOML lines
    users = tomllib.loads(result.stdout)
    assert list(users) == [login]
    assert check_password_hash(users[login], "pw")


@pytest.mark.parametrize("login", ["", "user:name"])
def test_hash_password_refuses_a_login_basic_auth_cannot_carry(login):
    result = CliRunner().invoke(cli, ["hash-password", login, "--password", "pw"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
