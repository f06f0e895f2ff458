"""Account and own-IP risk: small exact cases, then the bundled samples."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import importlib.util
import io

import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.jobs import ExportOptions, export
from analyzer.judgements.blame import blame_blocklists, blame_rollup
from analyzer.judgements.risk import (
    AUTH_COLUMNS,
    HIGH_RISK,
    RISK_COLUMNS,
    account_risk,
    auth_sessions,
    ip_risk,
)
from analyzer.judgements.rollups import daily_logins, daily_sessions

T0 = pd.Timestamp("2003-11-25 10:00", tz="UTC")
NO_ASNS = pd.DataFrame({"ip": pd.Series(dtype=str), "asn": pd.Series(dtype="Int64")})
NO_DNS = pd.DataFrame(columns=["ip", "zone", "dnsbl_status", "answer", "detail"])


def session(i, ip, user=None, failures=0, minutes=0, customer=None, recipients=1, server="mail1"):
    return {
        s.SESSION_ID: f"s{i}",
        s.SERVER: server,
        s.START: T0 + pd.Timedelta(minutes=minutes),
        s.CLIENT_IP: ip,
        s.SASL_USERNAME: user,
        s.CLASS: s.AUTHENTICATED if user else s.SPAM_PROBE,
        s.REASON: s.R_SUBMISSION if user else s.R_AUTH_FAILURE,
        s.AUTH_FAILURES: failures,
        s.CUSTOMER_ID: customer,
        s.MESSAGES: 1 if user else 0,
        s.RECIPIENTS: recipients if user else 0,
        s.RELAY_DENIED: 0,
        s.PERIOD: s.AFTER,
    }


def test_guessed_password_is_flagged_cracked():
    sessions = pd.DataFrame(
        [
            session(1, "100.64.9.9", failures=3, minutes=0),  # brute force from outside ...
            session(2, "100.64.9.9", failures=3, minutes=5),
            session(3, "100.64.9.9", user="bob@acme.example", minutes=9, customer="acme"),
            # ... while an office PC with an old password is no attack:
            session(4, "198.18.0.10", failures=9, minutes=0, customer="acme"),
            session(5, "198.18.0.10", user="amy@acme.example", minutes=2, customer="acme"),
        ]
    )
    deliveries = pd.DataFrame(columns=[s.SESSION_ID, s.RECIPIENT, s.STATUS, s.REPLY])
    accounts = account_risk(sessions, blame_blocklists(deliveries, []), NO_ASNS, "UTC")
    bob = accounts.set_index(s.SASL_USERNAME).loc["bob@acme.example"]
    amy = accounts.set_index(s.SASL_USERNAME).loc["amy@acme.example"]
    assert bob["failures_before_login"] == 6
    assert bob["flags"] == "cracked"
    assert bob["risk_score"] == 35
    assert amy["failures_before_login"] == 0 and amy["flags"] == ""
    assert list(accounts[s.SASL_USERNAME]) == ["bob@acme.example", "amy@acme.example"]


def test_volume_spike_and_blocklist_share():
    rows = [session(i, "198.18.0.10", "amy@acme.example", minutes=i * 1440) for i in range(5)]
    rows.append(session(9, "198.18.0.10", "amy@acme.example", minutes=6 * 1440, recipients=80))
    sessions = pd.DataFrame(rows)
    deliveries = pd.DataFrame(
        {
            s.SESSION_ID: ["s9"] * 4,
            s.SERVER: ["mail1"] * 4,
            s.RECIPIENT: ["a@aol.com", "b@yahoo.com", "c@example.net", "d@example.net"],
            s.STATUS: ["bounced", "deferred", "sent", "bounced"],
            s.REPLY: [
                "said: 554 5.7.1 Client host [192.0.2.10] blocked using zen.spamhaus.org",
                "said: 421 4.7.0 [TS03] All messages from 192.0.2.10 will be deferred",
                "250 ok",
                "said: 550 5.1.1 User unknown",
            ],
        }
    )
    accounts = account_risk(sessions, blame_blocklists(deliveries, ["192.0.2.10"]), NO_ASNS, "UTC")
    amy = accounts.iloc[0]
    assert (amy["peak_recipients"], amy["baseline_recipients"]) == (80, 1.0)
    assert amy["blocklist_bounces"] == 2
    assert amy["flags"] == "volume_spike;blocklist_bounces"
    assert amy["risk_score"] == 25 + 25  # all blamed refusals are hers: the full 25


def test_listing_makes_an_ip_critical_and_names_the_reason():
    sessions = pd.DataFrame([session(1, "198.18.0.10", "amy@acme.example", customer="acme")])
    sessions[s.REASON] = s.R_SUBMISSION
    deliveries = pd.DataFrame(
        {
            s.SESSION_ID: ["s1"],
            s.SERVER: ["mail1"],
            s.RECIPIENT: ["x@aol.com"],
            s.STATUS: ["deferred"],
            s.REPLY: ["refused to talk to me: 554- (RTR:BL) http://postmaster.info.aol.com/x"],
        }
    )
    blamed = blame_blocklists(deliveries, ["192.0.2.10", "192.0.2.11"])
    accounts = account_risk(sessions, blamed, NO_ASNS, "UTC")
    dnsbl = pd.DataFrame(
        [
            ["192.0.2.10", "zen.test", "listed", "127.0.0.2", "SBL123 spam source"],
            ["192.0.2.11", "zen.test", "unknown", "", "no answer within 3 s"],
        ],
        columns=NO_DNS.columns,
    )
    table = ip_risk(
        daily_sessions(sessions, "UTC"),
        daily_logins(sessions, "UTC"),
        blame_rollup(blamed, frozenset({"acme.example"}), "UTC"),
        accounts,
        dnsbl,
        ["192.0.2.10", "192.0.2.11"],
        {"mail1": "192.0.2.10", "mail2": "192.0.2.11"},
    )
    assert list(table.columns) == list(RISK_COLUMNS)
    first, second = table.iloc[0], table.iloc[1]
    assert first["ip"] == "192.0.2.10" and first["level"] == "critical"
    assert first["risk_score"] == 50 + 1  # listed on one zone, one blamed refusal
    assert first["providers"] == "aol:1"
    assert "zen.test (SBL123 spam source)" in first["evidence"]
    assert second["level"] == "low" and second["dnsbl_unknown"] == "zen.test"
    assert pd.isna(second["listed_on"])  # a timeout is never a listing
    assert "unknown for zen.test" in second["evidence"]


@pytest.fixture(scope="module")
def sample_exports(demo_settings):
    options = ExportOptions(dns=False)
    accounts, _ = export("accounts", demo_settings, (), options)
    risk, _ = export("risk", demo_settings, (), options)
    return list(csv.DictReader(io.StringIO(accounts))), list(csv.DictReader(io.StringIO(risk)))


def test_samples_cracked_account_is_the_top_risk(sample_exports):
    accounts, _ = sample_exports
    top = accounts[0]
    assert top["sasl_username"] == "sales@bluebird-travel.example"
    assert top["level"] == "critical"
    assert "volume_spike" in top["flags"] and "many_networks" in top["flags"]
    assert int(top["risk_score"]) > max(int(row["risk_score"]) for row in accounts[1:]) + 30


def test_samples_both_postfix_ips_show_blocklist_bounces(sample_exports):
    _, risk = sample_exports
    by_ip = {row["ip"]: row for row in risk}
    assert set(by_ip) == {"192.0.2.10", "192.0.2.11", "192.0.2.13", "192.0.2.14"}
    for ip, provider in (("192.0.2.10", "spamhaus"), ("192.0.2.11", "spamcop")):
        assert int(by_ip[ip]["blocklist_bounces"]) > 100
        assert provider in by_ip[ip]["providers"]
        assert "aol" in by_ip[ip]["providers"] and "yahoo" in by_ip[ip]["providers"]
        assert by_ip[ip]["level"] == "high"
        assert "sales@bluebird-travel.example" in by_ip[ip]["risky_accounts"]
        assert "not checked (--no-dns)" in by_ip[ip]["evidence"]
    assert by_ip["192.0.2.13"]["blocklist_bounces"] == "0"


def test_configured_bounce_patterns_come_first(tmp_path):
    """A provider's own refusal text, named in [bounce_patterns], is charged to the IP."""
    (tmp_path / "mail.log").write_text(
        "Nov 26 03:01:11 mail1 postfix/smtp[2351]: 4A1B2C3D01: to=<a@bank.example>, "
        "relay=mx.bank.example[203.0.113.9]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.0.0, "
        "status=bounced (host mx.bank.example[203.0.113.9] said: 550 Sender score too low "
        "(BNK-17) (in reply to MAIL FROM command))\n",
        encoding="utf-8",
    )
    (tmp_path / "customers.csv").write_text(
        "customer_id,name,domains,networks,contact_email\n", encoding="utf-8"
    )
    (tmp_path / "relaywatch.toml").write_text(
        'logs = ["mail.log"]\ncustomers = "customers.csv"\nyear = 2003\n'
        'outbound_ips = ["192.0.2.10"]\n[bounce_patterns]\nbank = ["\\\\(BNK-[0-9]+\\\\)"]\n',
        encoding="utf-8",
    )
    from analyzer.settings.config import load_settings

    settings = load_settings(tmp_path / "relaywatch.toml", environ={})
    text, _ = export("risk", settings, (), ExportOptions(dns=False))
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["ip"], row["blocklist_bounces"], row["providers"]) == ("192.0.2.10", "1", "bank:1")
    without, _ = export(
        "risk", dataclasses.replace(settings, bounce_patterns={}), (), ExportOptions(dns=False)
    )
    assert next(csv.DictReader(io.StringIO(without)))["blocklist_bounces"] == "0"


def test_a_bad_bounce_pattern_is_a_config_error(tmp_path):
    from analyzer.errors import ConfigError
    from analyzer.settings.config import load_settings

    (tmp_path / "relaywatch.toml").write_text('[bounce_patterns]\nx = ["(unclosed"]\n')
    with pytest.raises(ConfigError, match=r"bounce_patterns\.x: invalid regex"):
        load_settings(tmp_path / "relaywatch.toml", environ={})


def test_one_busy_day_without_history_is_no_spike():
    sessions = pd.DataFrame([session(1, "198.18.0.10", "new@acme.example", recipients=80)])
    deliveries = pd.DataFrame(columns=[s.SESSION_ID, s.RECIPIENT, s.STATUS, s.REPLY])
    accounts = account_risk(sessions, blame_blocklists(deliveries, []), NO_ASNS, "UTC")
    assert accounts.iloc[0]["flags"] == "" and accounts.iloc[0]["risk_score"] == 0


def test_retries_count_once_and_unowned_refusals_are_no_ones_share():
    sessions = pd.DataFrame([session(1, "198.18.0.10", "amy@acme.example")])
    reply = "said: 554 5.7.1 Client host [192.0.2.10] blocked using zen.spamhaus.org"
    deliveries = pd.DataFrame(
        {
            s.SESSION_ID: ["s1", "s1", "s1", None],  # a deferral retried, then a bounce ...
            s.RECIPIENT: ["a@aol.com", "a@aol.com", "a@aol.com", "z@aol.com"],
            s.STATUS: ["deferred", "deferred", "bounced", "bounced"],
            s.REPLY: [reply] * 4,  # ... and a forwarded message no login sent
        }
    )
    accounts = account_risk(sessions, blame_blocklists(deliveries, []), NO_ASNS, "UTC")
    amy = accounts.iloc[0]
    assert amy["blocklist_bounces"] == 1
    assert amy["risk_score"] == 25  # the only owned refusal is hers: the full share


def test_failures_from_unknown_addresses_never_pair_up():
    sessions = pd.DataFrame(
        [
            session(1, None, failures=6, minutes=0),
            session(2, None, user="amy@acme.example", minutes=5, customer="acme"),
        ]
    )
    deliveries = pd.DataFrame(columns=[s.SESSION_ID, s.RECIPIENT, s.STATUS, s.REPLY])
    accounts = account_risk(sessions, blame_blocklists(deliveries, []), NO_ASNS, "UTC")
    assert accounts.iloc[0]["failures_before_login"] == 0


def test_duplicate_zones_and_missing_reasons_do_not_break_the_evidence():
    sessions = pd.DataFrame([session(1, "198.18.0.10", "amy@acme.example", customer="acme")])
    deliveries = pd.DataFrame(
        {
            s.SESSION_ID: ["s1"],
            s.SERVER: ["mail1"],
            s.RECIPIENT: ["x@aol.com"],
            s.STATUS: ["sent"],
            s.REPLY: ["250 ok"],
        }
    )
    blamed = blame_blocklists(deliveries, ["192.0.2.10"])
    accounts = account_risk(sessions, blamed, NO_ASNS, "UTC")
    listed = ["192.0.2.10", "z.test", "listed", "127.0.0.2", pd.NA]
    dnsbl = pd.DataFrame([listed, listed], columns=NO_DNS.columns)
    row = ip_risk(
        daily_sessions(sessions, "UTC"),
        daily_logins(sessions, "UTC"),
        blame_rollup(blamed, frozenset({"acme.example"}), "UTC"),
        accounts,
        dnsbl,
        ["192.0.2.10"],
        {"mail1": "192.0.2.10"},
    ).iloc[0]
    assert (row["risk_score"], row["level"]) == (50, "critical")  # one zone, counted once
    assert "z.test (no reason given)" in row["evidence"]


def test_a_one_day_export_judges_accounts_on_their_history(demo_settings):
    import datetime as dt

    day = dt.date(2003, 11, 26)
    options = ExportOptions(since=day, until=day, dns=False)
    accounts = list(csv.DictReader(io.StringIO(export("accounts", demo_settings, (), options)[0])))
    top = accounts[0]
    assert (top["sasl_username"], top["level"]) == ("sales@bluebird-travel.example", "critical")
    assert "volume_spike" in top["flags"]  # its usual days lie before the period
    risk = list(csv.DictReader(io.StringIO(export("risk", demo_settings, (), options)[0])))
    assert all(int(r["deliveries"]) < 2000 for r in risk)  # refusals of that day only


def test_the_nightly_mail_counts_configured_bounce_patterns_too(tmp_path):
    """The mail's own-servers table blames the same refusals as the risk export."""
    import email
    from email import policy

    from analyzer.jobs import nightly
    from analyzer.settings.config import load_settings

    test_configured_bounce_patterns_come_first(tmp_path)  # writes the log and the config
    settings = load_settings(tmp_path / "relaywatch.toml", environ={})
    day = dt.date(2003, 11, 26)
    eml = tmp_path / "summary.eml"
    nightly(settings, day, day, eml=eml, dns=False)
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    assert "mail1: 1 deliveries, 0 deferred, 1 bounced, 1 blaming a blocklist" in text


NO_DELIVERIES = pd.DataFrame(columns=[s.SESSION_ID, s.RECIPIENT, s.STATUS, s.REPLY])
DAY = 1440  # minutes


def score_accounts(rows, asns=NO_ASNS, deliveries=NO_DELIVERIES, own_ips=()):
    sessions = pd.DataFrame(rows)
    blamed = blame_blocklists(deliveries, list(own_ips))
    return account_risk(sessions, blamed, asns, "UTC").set_index(s.SASL_USERNAME)


def asn_frame(mapping):
    return pd.DataFrame(
        {"ip": list(mapping), "asn": pd.array(list(mapping.values()), dtype="Int64")}
    )


@pytest.mark.parametrize(("own_logins", "cracked"), [(2, True), (6, True), (7, False)])
def test_colleagues_typos_on_a_shared_address_are_weighed_against_the_accounts_own_use(
    own_logins, cracked
):
    """6 failures from a roaming address, then amy's first login from it: a guessed password
    while they are at least half of her AUTH traffic that week, a colleague's typos when she
    logged in more often than that from the office."""
    rows = [
        session(i, "198.18.0.10", "amy@acme.example", minutes=i * 60, customer="acme")
        for i in range(own_logins)
    ]
    rows += [session(100 + i, "100.64.5.5", failures=3, minutes=DAY + i) for i in range(2)]
    rows.append(session(200, "100.64.5.5", "amy@acme.example", minutes=DAY + 9))
    amy = score_accounts(rows).loc["amy@acme.example"]
    assert amy["failures_before_login"] == 6
    assert (amy["flags"] == "cracked") is cracked


def test_failures_from_an_address_the_account_already_uses_are_no_guessed_password():
    rows = [
        session(1, "100.64.9.9", "bob@acme.example", minutes=0),
        session(2, "100.64.9.9", failures=3, minutes=5),
        session(3, "100.64.9.9", failures=3, minutes=6),
        session(4, "100.64.9.9", "bob@acme.example", minutes=9),
        # failures older than the window before the first login do not count either
        session(5, "100.64.7.7", failures=9, minutes=0),
        session(6, "100.64.7.7", "bob@acme.example", minutes=8 * DAY),
    ]
    bob = score_accounts(rows).loc["bob@acme.example"]
    assert bob["failures_before_login"] == 0 and bob["flags"] == ""


def many_network_days(first_networks_on_day_four):
    """Three days from the office (AS 1) and two roaming networks (AS 2, 3), then a day
    from the office and three other addresses."""
    ips = {"198.18.0.10": 1, "100.64.0.2": 2, "100.64.0.3": 3}
    rows = [
        session(day * 10 + n, ip, "amy@acme.example", minutes=day * DAY + n * 60)
        for day in range(3)
        for n, ip in enumerate(ips)
    ]
    for n, asn in enumerate([1, *first_networks_on_day_four]):
        ip = f"100.65.0.{asn}" if asn > 1 else "198.18.0.10"
        ips[ip] = asn
        rows.append(session(100 + n, ip, "amy@acme.example", minutes=3 * DAY + n * 60))
    return rows, asn_frame(ips)


@pytest.mark.parametrize(
    ("day_four", "flagged"),
    [([2, 3, 4], False), ([4, 5, 6], True)],
    ids=["one-new-network", "three-new-networks"],
)
def test_many_networks_counts_networks_new_to_the_account(day_four, flagged):
    rows, asns = many_network_days(day_four)
    amy = score_accounts(rows, asns).loc["amy@acme.example"]
    assert amy["max_asns_per_day"] == 4
    assert ("many_networks" in amy["flags"]) is flagged


def test_many_networks_needs_a_history_to_compare_with():
    """Four networks on the account's first days are its usual ones, not a spread."""
    ips = {f"100.6{n}.0.1": n + 1 for n in range(4)}
    rows = [
        session(day * 10 + n, ip, "amy@acme.example", minutes=day * DAY + n * 60)
        for day in range(3)
        for n, ip in enumerate(ips)
    ]
    amy = score_accounts(rows, asn_frame(ips)).loc["amy@acme.example"]
    assert amy["max_asns_per_day"] == 4 and amy["flags"] == ""


def test_quiet_days_do_not_lower_the_volume_baseline():
    """Weekends with a few recipients: the busiest day is judged against a usual busy day
    (the upper quartile of the other days), not the median that quiet days pull down."""
    per_day = [5, 5, 5, 5, 40, 40, 40, 60]
    rows = [
        session(i, "198.18.0.10", "amy@acme.example", minutes=i * DAY, recipients=n)
        for i, n in enumerate(per_day)
    ]
    amy = score_accounts(rows).loc["amy@acme.example"]
    assert (amy["peak_recipients"], amy["baseline_recipients"]) == (60, 40.0)
    assert amy["flags"] == ""


@pytest.mark.parametrize(("roaming_logins", "new_asns"), [(1, 0), (3, 1)])
def test_a_new_network_counts_when_it_carries_a_share_of_the_logins(roaming_logins, new_asns):
    ips = {"198.18.0.10": 1, "100.64.0.2": 2}
    rows = [session(i, "198.18.0.10", "amy@acme.example", minutes=i * DAY // 2) for i in range(20)]
    rows += [
        session(100 + i, "100.64.0.2", "amy@acme.example", minutes=10 * DAY + i)
        for i in range(roaming_logins)
    ]
    amy = score_accounts(rows, asn_frame(ips)).loc["amy@acme.example"]
    assert amy["new_asns"] == new_asns
    assert amy["flags"] == ("new_networks" if new_asns else "")


def test_the_blocklist_flag_needs_a_share_of_the_blamed_refusals():
    """Refused once after the listing like every colleague: counted, scored by its share,
    but not flagged; the account whose mail drew the refusals is."""
    rows = [
        session(1, "100.64.9.9", "spam@acme.example"),
        session(2, "198.18.0.10", "amy@acme.example", customer="acme"),
    ]
    reply = "said: 554 5.7.1 Client host [192.0.2.10] blocked using zen.spamhaus.org"
    deliveries = pd.DataFrame(
        {
            s.SESSION_ID: ["s1"] * 24 + ["s2"],
            s.RECIPIENT: [f"r{i}@aol.com" for i in range(25)],
            s.STATUS: ["bounced"] * 25,
            s.REPLY: [reply] * 25,
        }
    )
    accounts = score_accounts(rows, deliveries=deliveries)
    spam, amy = accounts.loc["spam@acme.example"], accounts.loc["amy@acme.example"]
    assert (spam["blocklist_bounces"], spam["flags"], spam["risk_score"]) == (
        24,
        "blocklist_bounces",
        25,
    )
    assert (amy["blocklist_bounces"], amy["flags"], amy["risk_score"]) == (1, "", 2)


ACCOUNT_FLAGS = ("cracked", "volume_spike", "many_networks", "new_networks", "blocklist_bounces")


def generated_accounts(folder, scale):
    """The ``accounts`` export of logs the sample generator writes at ``scale``."""
    from analyzer.settings.config import load_settings
    from tests.conftest import SAMPLES

    spec = importlib.util.spec_from_file_location("generate", SAMPLES / "generate.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    generator.generate(folder, seed=2003, scale=scale)
    settings = load_settings(folder / "relaywatch.toml", environ={})
    text, _ = export("accounts", settings, (), ExportOptions(dns=False))
    return list(csv.DictReader(io.StringIO(text)))


def test_flags_stay_selective_when_each_login_sends_more(tmp_path):
    """The generator's scale multiplies every login's traffic, not the number of logins or
    of cracked accounts: the share of accounts with each flag must not grow with it, and the
    phished account stays first."""
    shares = {}
    for scale in (1, 4):
        accounts = generated_accounts(tmp_path / f"scale{scale}", scale)
        assert accounts[0]["sasl_username"] == "sales@bluebird-travel.example"
        assert accounts[0]["level"] == "critical"
        assert int(accounts[1]["risk_score"]) < HIGH_RISK  # no one else to lock
        flags = [set(filter(None, row["flags"].split(";"))) for row in accounts]
        shares[scale] = {
            name: sum(name in found for found in flags) / len(accounts) for name in ACCOUNT_FLAGS
        } | {
            "any": sum(bool(found) for found in flags) / len(accounts),
            "high": sum(int(row["risk_score"]) >= 50 for row in accounts) / len(accounts),
        }
    for name, share in shares[4].items():
        assert share <= shares[1][name], (name, shares)


def test_the_auth_table_keeps_logins_and_outside_failures_only():
    sessions = pd.DataFrame(
        [
            session(1, "100.64.9.9", failures=3),  # guessing from outside: kept
            session(2, "100.64.9.9", user="bob@acme.example", customer="acme"),  # login: kept
            session(3, "198.18.0.10", failures=9, customer="acme"),  # office typo: left out
            session(4, "100.64.9.8"),  # a probe without AUTH: left out
            session(5, None, failures=2),  # no address to pair with a login: left out
        ]
    )
    kept = auth_sessions(sessions)
    assert list(kept[s.SESSION_ID]) == ["s1", "s2"]
    assert tuple(kept.columns) == AUTH_COLUMNS
