"""Alert rules on small exact frames, and what ``evaluate`` says and remembers: each event
once, a reminder after the cool-down, a recovery when a condition clears."""

from __future__ import annotations

import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.errors import ConfigError
from analyzer.judgements import alerts as rules
from analyzer.judgements.blame import PROVIDER
from analyzer.judgements.risk import OWN_IP
from analyzer.settings.alerts import AlertsConfig, alerts_config

TZ = "America/New_York"
NOW = pd.Timestamp("2003-11-25 23:00", tz=TZ).tz_convert("UTC")
CONFIG = AlertsConfig()  # factor 5, floor 50, cracked window 24 h, share 0.1, floor 5
ACCOUNT = "sales@bluebird-travel.example"


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ).tz_convert("UTC")


def logins(*rows: tuple[str, str, int], account: str = ACCOUNT) -> pd.DataFrame:
    """(local time, client address, recipients) of one account's authenticated sessions."""
    return pd.DataFrame(
        {
            s.SASL_USERNAME: pd.Series([account] * len(rows), dtype="string"),
            s.START: pd.Series([at(r[0]) for r in rows], dtype="datetime64[us, UTC]"),
            s.CLIENT_IP: pd.Series([r[1] for r in rows], dtype="string"),
            s.RECIPIENTS: pd.Series([r[2] for r in rows], dtype="int64"),
        }
    )


USUAL = (("2003-11-21 07:10", "198.51.100.7", 4), ("2003-11-21 07:40", "198.51.100.7", 2))


def test_an_account_far_above_its_busiest_hour_is_a_volume_alert():
    # its busiest hour before today: 6 recipients (07:00 on the 21st); the last hour: 60
    frame = logins(
        *USUAL, ("2003-11-25 22:10", "203.0.113.5", 30), ("2003-11-25 22:50", "203.0.113.9", 30)
    )
    found = rules.volume_spikes(frame, NOW, CONFIG, {"203.0.113.5": 64500}, TZ)
    assert found[rules.KEY].tolist() == [f"volume:{ACCOUNT}"]
    row = found.iloc[0]
    assert row[rules.SUMMARY] == (
        f"{ACCOUNT} sent to 60 recipients in the last hour (its busiest hour before: 6)"
    )
    # one address is in AS64500, the other is named by its /24
    assert "networks: AS64500 (1), 203.0.113.0/24 (1)" in row[rules.EVIDENCE]
    assert "/etc/dovecot/deny-users" in row[rules.ACTION]


def test_a_past_spam_run_is_not_the_usual_of_the_next():
    # spam on the 22nd (alerted 20:00-23:00, cleared since), cracked again on the 25th
    frame = logins(
        *USUAL,
        ("2003-11-22 15:10", "203.0.113.5", 30),  # the ramp, before the alert
        ("2003-11-22 21:10", "203.0.113.5", 400),
        ("2003-11-25 22:10", "203.0.113.9", 300),
    )
    past = pd.DataFrame(
        {
            rules.SUBJECT: [ACCOUNT],
            rules.FIRST_RAISED: [at("2003-11-22 20:00")],
            rules.LAST_SEEN: [at("2003-11-22 23:00")],
        }
    )
    assert rules.volume_spikes(frame, NOW, CONFIG, {}, TZ).empty  # 300 < 5 x 400
    found = rules.volume_spikes(frame, NOW, CONFIG, {}, TZ, past=past)
    assert found[rules.SUMMARY].tolist() == [
        f"{ACCOUNT} sent to 300 recipients in the last hour (its busiest hour before: 6)"
    ]
    state = rules.empty_state()
    assert rules.past_episodes(state, rules.VOLUME).empty


def test_a_volume_alert_names_the_recipients_domains():
    frame = logins(*USUAL, ("2003-11-25 22:10", "203.0.113.5", 60))
    frame[s.SESSION_ID] = pd.Series(["u1", "u2", "spam"], dtype="string")
    sent = pd.DataFrame(
        {
            s.SESSION_ID: ["spam", "spam", "spam", "spam", "u1"],
            # a deferral tried again counts once; a usual session's recipient not at all
            s.RECIPIENT: [
                "a@Mail.example",
                "b@mail.example",
                "b@mail.example",
                "c@x.example",
                "boss@usual.example",
            ],
        }  # fmt: skip
    ).astype("string")
    found = rules.volume_spikes(frame, NOW, CONFIG, {}, TZ, recipients=sent)
    assert found.iloc[0][rules.EVIDENCE].endswith(
        "; recipients' domains: mail.example (2), x.example (1)"
    )
    # none of its deliveries seen yet (they trail the session): no domains, no error
    found = rules.volume_spikes(frame, NOW, CONFIG, {}, TZ, recipients=sent.iloc[4:])
    assert "recipients' domains" not in found.iloc[0][rules.EVIDENCE]


@pytest.mark.parametrize(
    ("last_hour", "why"),
    [((49,), "below the floor of 50"), ((20, 10), "30 is not above 5 x 6 and below the floor")],
)
def test_no_volume_alert_below_the_floor_or_the_factor(last_hour, why):
    recent = [("2003-11-25 22:30", "203.0.113.5", n) for n in last_hour]
    assert rules.volume_spikes(logins(*USUAL, *recent), NOW, CONFIG, {}, TZ).empty, why


def test_todays_hours_are_not_the_usual_and_an_active_alert_keeps_its_usual():
    # 40 earlier today does not raise the usual peak (else 60 would not be 5 x above it)
    frame = logins(
        *USUAL, ("2003-11-25 20:00", "203.0.113.5", 40), ("2003-11-25 22:30", "203.0.113.5", 60)
    )
    assert len(rules.volume_spikes(frame, NOW, CONFIG, {}, TZ)) == 1
    # next day, alert active since yesterday: 13 in the last two hours is still above 6 an
    # hour (12 would not be) ...
    later = at("2003-11-26 03:00")
    frame = logins(
        *USUAL, ("2003-11-25 22:30", "203.0.113.5", 60), ("2003-11-26 01:30", "203.0.113.5", 13)
    )
    raised = {ACCOUNT: NOW}
    held = rules.volume_spikes(frame, later, CONFIG, {}, TZ, raised)
    assert held[rules.SUMMARY].tolist() == [
        f"{ACCOUNT} sent to 13 recipients in the last 2 hours (its busiest hour before: 6)"
    ]  # what holds it, not the last hour's 0
    # ... and without the alert it would be no spike at all
    assert rules.volume_spikes(frame, later, CONFIG, {}, TZ).empty
    # two quiet hours later it has cleared
    assert rules.volume_spikes(frame, at("2003-11-26 03:31"), CONFIG, {}, TZ, raised).empty
    # back at its usual pace (12 in two hours: 6 an hour) it has cleared too
    at_pace = logins(
        *USUAL, ("2003-11-25 22:30", "203.0.113.5", 60), ("2003-11-26 01:30", "203.0.113.5", 12)
    )
    assert rules.volume_spikes(at_pace, later, CONFIG, {}, TZ, raised).empty


def test_a_day_whose_midnight_does_not_exist_starts_at_its_first_instant():
    # Chile, 2024-09-08: at 00:00 the clocks jump to 01:00 (-03)
    noon = pd.Series([pd.Timestamp("2024-09-08T16:00Z")], dtype="datetime64[us, UTC]")
    midnight = rules.local_midnight(noon, "America/Santiago")
    assert midnight.tolist() == [pd.Timestamp("2024-09-08T04:00Z")]
    frame = logins(("2024-09-07 10:00", "198.51.100.7", 4))
    frame[s.START] = pd.Series([pd.Timestamp("2024-09-07T14:00Z")], dtype="datetime64[us, UTC]")
    now = pd.Timestamp("2024-09-08T16:00Z")
    assert rules.volume_spikes(frame, now, CONFIG, {}, "America/Santiago").empty  # no error


def failed(*rows: tuple[str, str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.CLIENT_IP: pd.Series([r[1] for r in rows], dtype="string"),
            s.START: pd.Series([at(r[0]) for r in rows], dtype="datetime64[us, UTC]"),
            s.AUTH_FAILURES: pd.Series([r[2] for r in rows], dtype="int64"),
        }
    )


def test_a_login_from_a_new_network_after_guessing_from_there_is_a_cracked_alert():
    frame = logins(*USUAL, ("2003-11-25 22:40", "203.0.113.50", 1))
    guesses = failed(
        ("2003-11-25 03:00", "203.0.113.9", 3), ("2003-11-25 21:00", "203.0.113.77", 3)
    )
    found = rules.cracked_logins(frame, guesses, NOW, CONFIG, {})
    assert found[rules.KEY].tolist() == [f"cracked_login:{ACCOUNT}"]
    assert found.iloc[0][rules.SUMMARY] == (
        f"{ACCOUNT} logged in from a new network (203.0.113.0/24 (1)) after 6 failed logins "
        "from 203.0.113.0/24"
    )


def test_typos_elsewhere_in_a_big_isp_or_a_busy_accounts_own_are_no_cracked_alert():
    asn = {"203.0.113.50": 3320, "198.18.7.7": 3320}  # one AS, other /24s
    frame = logins(*USUAL, ("2003-11-25 22:40", "203.0.113.50", 1))
    elsewhere = failed(("2003-11-25 21:00", "198.18.7.7", 9))
    assert rules.cracked_logins(frame, elsewhere, NOW, CONFIG, asn).empty
    # ten logins of its own in the window beside 6 failures: typos, not guessing
    busy = logins(
        *USUAL,
        *[("2003-11-25 10:00", "192.0.2.200", 1)] * 10,
        ("2003-11-25 22:40", "203.0.113.50", 1),
    )
    typos = failed(("2003-11-25 21:00", "203.0.113.9", 6))
    assert rules.cracked_logins(busy, typos, NOW, CONFIG, {}).empty


@pytest.mark.parametrize(
    ("guesses", "why"),
    [
        ((("2003-11-25 21:00", "198.18.0.9", 9),), "the guessing came from another network"),
        ((("2003-11-25 21:00", "203.0.113.9", 4),), "4 failures are below CRACK_FAILURES (5)"),
        ((("2003-11-24 21:00", "203.0.113.9", 9),), "the guessing was more than 24 h before"),
    ],
)
def test_no_cracked_alert_without_recent_guessing_from_that_network(guesses, why):
    frame = logins(*USUAL, ("2003-11-25 22:40", "203.0.113.50", 1))
    assert rules.cracked_logins(frame, failed(*guesses), NOW, CONFIG, {}).empty, why


def test_a_login_from_a_network_the_account_used_before_is_no_cracked_alert():
    frame = logins(*USUAL, ("2003-11-25 22:40", "198.51.100.99", 1))
    guesses = failed(("2003-11-25 21:00", "198.51.100.3", 9))
    assert rules.cracked_logins(frame, guesses, NOW, CONFIG, {}).empty


def deliveries(ip: str, minutes_ago: list[int], provider: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            s.TS: pd.Series(
                [NOW - pd.Timedelta(minutes=m) for m in minutes_ago], dtype="datetime64[us, UTC]"
            ),
            OWN_IP: pd.Series([ip] * len(minutes_ago), dtype="string"),
            s.RELAY: pd.Series(
                ["mx.aol.example[198.51.100.1]:25"] * len(minutes_ago), dtype="string"
            ),
        }
    )
    return frame.assign(**{PROVIDER: pd.Series([provider] * len(minutes_ago), dtype="string")})


def test_refusals_blaming_a_blocklist_above_floor_and_share_are_an_alert():
    sent = deliveries("192.0.2.10", list(range(0, 40)))  # 40 deliveries in the last hour
    refused = deliveries("192.0.2.10", [1, 2, 3, 4, 5], "aol")  # 5 of them refused: 12.5 %
    found = rules.blocklist_refusals(sent, refused, NOW, CONFIG)
    assert found[rules.SUMMARY].tolist() == [
        "192.0.2.10: 5 of 40 deliveries in the last hour refused for a blocklist (aol (5))"
    ]
    assert rules.blocklist_refusals(sent, refused.iloc[:4], NOW, CONFIG).empty  # floor 5
    many = deliveries("192.0.2.10", list(range(0, 59)))
    assert rules.blocklist_refusals(many, refused, NOW, CONFIG).empty  # 5 of 59: below 10 %
    # active: holds while 5 refusals of the last two hours blame a blocklist
    old = deliveries("192.0.2.10", [100, 101, 102, 103, 104], "aol")
    raised = {"192.0.2.10": NOW - pd.Timedelta(hours=3)}
    assert len(rules.blocklist_refusals(many, old, NOW, CONFIG, raised)) == 1
    assert rules.blocklist_refusals(many, old.iloc[:4], NOW, CONFIG, raised).empty
    # one recipient deferred five times is one refusal, not five
    retried = old.assign(**{s.SESSION_ID: ["m1"] * 5, s.RECIPIENT: ["bob@aol.example"] * 5}).astype(
        {s.SESSION_ID: "string", s.RECIPIENT: "string"}
    )
    assert rules.blocklist_refusals(many, retried, NOW, CONFIG, raised).empty
    fresh = refused.assign(
        **{s.SESSION_ID: ["m1"] * 5, s.RECIPIENT: ["bob@aol.example"] * 5}
    ).astype({s.SESSION_ID: "string", s.RECIPIENT: "string"})
    assert rules.blocklist_refusals(sent, fresh, NOW, CONFIG).empty  # 1 of 40


def test_only_listed_answers_are_listings():
    dnsbl = pd.DataFrame(
        {
            "ip": ["192.0.2.10", "192.0.2.11", "192.0.2.12"],
            "zone": ["bl.test", "bl.test", "nothing.test"],
            "dnsbl_status": ["listed", "clean", "unknown"],
            "answer": ["127.0.0.2", "", ""],
            "detail": ["spam from a cracked account", "", "zone failed its test entries"],
        }
    )
    found = rules.dnsbl_listings(dnsbl)
    assert found[rules.KEY].tolist() == ["dnsbl_listing:192.0.2.10:bl.test"]
    assert (
        found.iloc[0][rules.EVIDENCE] == "bl.test answers 127.0.0.2 (spam from a cracked account)"
    )


def relays(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.CUSTOMER_ID: pd.Series([r[0] for r in rows], dtype="string"),
            s.START: pd.Series([at(r[1]) for r in rows], dtype="datetime64[us, UTC]"),
            s.CLIENT_IP: pd.Series(["198.51.100.20"] * len(rows), dtype="string"),
        }
    )


def test_only_a_customers_first_refused_relay_is_an_alert():
    frame = relays(
        ("c001", "2003-11-25 22:30"), ("c002", "2003-11-24 09:00"), ("c002", "2003-11-25 22:45")
    )
    found = rules.first_refused_relays(frame, NOW)
    assert found[rules.SUBJECT].tolist() == ["c001"]  # c002 broke yesterday: already said
    assert found.iloc[0][rules.LINK] == "customers?customers=c001"


def conditions(*keys: str) -> pd.DataFrame:
    rows = [
        {
            rules.KEY: key,
            rules.RULE: key.split(":")[0],
            rules.SUBJECT: key.split(":")[1],
            rules.SUMMARY: f"{key} now",
            rules.EVIDENCE: "e",
            rules.ACTION: "a",
            rules.LINK: "risk",
        }
        for key in keys
    ]
    return (
        pd.DataFrame(rows, columns=list(rules.CONDITION_COLUMNS)) if rows else rules.no_conditions()
    )


def test_each_event_once_a_reminder_after_the_cooldown_and_a_recovery():
    hour, cooldown = pd.Timedelta(hours=1), pd.Timedelta(hours=6)
    key = "volume:a@example.com"
    said, state = rules.evaluate(conditions(key), rules.empty_state(), NOW, cooldown)
    assert said[[rules.KEY, rules.KIND]].values.tolist() == [[key, "alert"]]
    said, state = rules.evaluate(conditions(key), state, NOW + hour, cooldown)  # again: silent
    assert said.empty and state[rules.STATUS].tolist() == ["active"]
    said, state = rules.evaluate(conditions(key), state, NOW + 6 * hour, cooldown)
    assert said[rules.KIND].tolist() == ["reminder"]
    said, state = rules.evaluate(conditions(), state, NOW + 7 * hour, cooldown)
    assert said[rules.KIND].tolist() == ["recovered"]
    assert said.iloc[0][rules.SUMMARY] == "a@example.com: back to its usual volume"
    assert state[rules.STATUS].tolist() == ["cleared"]
    said, state = rules.evaluate(conditions(), state, NOW + 8 * hour, cooldown)
    assert said.empty  # cleared once
    # back after its recovery, even within the cool-down: a new alert, a new episode
    said, state = rules.evaluate(conditions(key), state, NOW + 9 * hour, cooldown)
    assert said[rules.KIND].tolist() == ["alert"] and state[rules.STATUS].tolist() == ["active"]
    assert state[rules.FIRST_RAISED].tolist() == [NOW + 9 * hour]
    said, state = rules.evaluate(conditions(), state, NOW + 10 * hour, cooldown)
    assert said.iloc[0][rules.EVIDENCE] == (
        f"raised at {(NOW + 9 * hour).isoformat()}, last seen at {(NOW + 9 * hour).isoformat()}: "
        f"{key} now"
    )


def test_a_listing_clears_only_on_a_clean_answer():
    cooldown, key = pd.Timedelta(hours=6), "dnsbl_listing:192.0.2.10:bl.test"
    _, state = rules.evaluate(conditions(key), rules.empty_state(), NOW, cooldown)

    def answer(status: str | None) -> pd.DataFrame:
        rows = [] if status is None else [("192.0.2.10", "bl.test", status, "", "")]
        return pd.DataFrame(rows, columns=["ip", "zone", "dnsbl_status", "answer", "detail"])

    # a timeout, a zone that failed its test entries, no lookup (--no-dns): nothing said
    for status in ("unknown", "error", None):
        undecided = rules.undecided_listings(state, answer(status))
        assert undecided == {key}
        said, state = rules.evaluate(conditions(), state, NOW, cooldown, undecided)
        assert said.empty and state[rules.STATUS].tolist() == ["active"]
    undecided = rules.undecided_listings(state, answer("clean"))
    said, state = rules.evaluate(conditions(), state, NOW, cooldown, undecided)
    assert said[rules.KIND].tolist() == ["recovered"]


def test_events_do_not_recover_and_a_customers_first_relay_is_said_once_ever():
    cooldown = pd.Timedelta(hours=6)
    keys = ("cracked_login:a@example.com", "first_refused_relay:c001")
    said, state = rules.evaluate(conditions(*keys), rules.empty_state(), NOW, cooldown)
    assert said[rules.KIND].tolist() == ["alert", "alert"]
    said, state = rules.evaluate(conditions(), state, NOW + pd.Timedelta(hours=1), cooldown)
    assert said.empty  # events have no recovery
    assert state[rules.STATUS].tolist() == ["event", "event"]  # never "active" for good
    said, state = rules.evaluate(conditions(*keys), state, NOW + pd.Timedelta(hours=2), cooldown)
    assert said.empty  # an event again within the cool-down: not said
    said, state = rules.evaluate(conditions(*keys), state, NOW + pd.Timedelta(days=2), cooldown)
    # a new occurrence after the cool-down is a new alert; the first relay, never again
    assert said[[rules.KEY, rules.KIND]].values.tolist() == [
        ["cracked_login:a@example.com", "alert"]
    ]


def test_the_alerts_section_is_checked():
    config = alerts_config(
        {"volume_factor": 3, "to": ["noc@example.com"], "webhook": "https://hooks.example/x"}
    )
    assert (config.volume_factor, config.to, config.volume_floor) == (3.0, ("noc@example.com",), 50)
    assert alerts_config({"webhook": "http://127.0.0.1:9/hook"}).webhook  # loopback may be http
    with pytest.raises(ConfigError, match="alerts.webhook: expected an https:// URL"):
        alerts_config({"webhook": "http://hooks.example/x"})
    with pytest.raises(ConfigError) as refused:
        alerts_config({"webhook": "http://hooks.example/T000/B000/secret"})
    assert "secret" not in str(refused.value)  # a hook's URL is its password


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("volume_floor", "many", "alerts.volume_floor: expected an integer from 1 to 1e+09"),
        ("volume_floor", 0.5, "alerts.volume_floor: expected an integer from 1 to 1e+09"),
        ("history_days", 0, "alerts.history_days: expected an integer from 1 to 366"),
        ("blocklist_share", 7, "alerts.blocklist_share: expected a number from 0 to 1, got 7"),
        ("volume_factor", 0, "alerts.volume_factor: expected a number from 1 to 1000, got 0"),
        ("cracked_window_hours", 1e308, "alerts.cracked_window_hours: expected a number"),
        ("to", ["noc"], "alerts.to: not an e-mail address: 'noc'"),
    ],
)
def test_an_alerts_value_that_cannot_work_is_one_clear_line(key, value, message):
    with pytest.raises(ConfigError) as refused:
        alerts_config({key: value})
    assert str(refused.value).startswith(message)


def test_now_is_never_after_the_clock_and_old_logs_are_said():
    from analyzer.watch import judged_instant

    clock, notes = pd.Timestamp("2026-12-04T12:00Z"), []
    assert judged_instant(pd.Timestamp("2026-12-04T11:58Z"), clock, notes) == pd.Timestamp(
        "2026-12-04T11:58Z"
    )
    assert notes == []
    assert judged_instant(pd.Timestamp("2027-12-04T11:58Z"), clock, notes) == clock
    assert notes[-1].startswith("the store holds sessions after this machine's clock")
    assert judged_instant(pd.Timestamp("2003-11-27T11:58Z"), clock, notes).year == 2003
    assert notes[-1].startswith("the logs' last session is 8408 days old")
