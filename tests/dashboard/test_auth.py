"""Access to the dashboard: loopback by default, basic auth with hashed passwords, or an
explicit --behind-proxy; never customers' data on an open address by accident."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from click.testing import CliRunner
from werkzeug.security import check_password_hash, generate_password_hash

from analyzer.cli import cli
from analyzer.config import DEMO_CONFIG, load_settings
from analyzer.errors import ConfigError
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
