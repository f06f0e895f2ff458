"""Rollups the pages and the rules read instead of sessions: small exact cases, and the same
answers from a rollup as from the sessions it rolls up."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from analyzer import schema as s
from analyzer.judgements import rollups
from analyzer.judgements.blame import PROVIDER
from analyzer.judgements.readiness import customer_readiness, readiness_of, recent_sessions
from analyzer.judgements.risk import account_bounces

T0 = pd.Timestamp("2003-11-20 22:30", tz="UTC")  # 23:30 in Berlin: still the 20th there


def login(i, user, ip, minutes=0, recipients=1, klass=s.AUTHENTICATED, customer="c1"):
    return {
        s.SESSION_ID: f"s{i}",
        s.SERVER: "mail1",
        s.START: T0 + pd.Timedelta(minutes=minutes),
        s.CLASS: klass,
        s.SASL_USERNAME: user,
        s.CLIENT_IP: ip,
        s.CUSTOMER_ID: customer,
        s.MESSAGES: 1,
        s.RECIPIENTS: recipients,
    }


def test_logins_roll_up_per_local_day_account_and_address():
    sessions = pd.DataFrame(
        [
            login(1, "amy", "198.18.0.10", minutes=0, recipients=2),
            login(2, "amy", "198.18.0.10", minutes=20, recipients=3),  # 23:50 Berlin: same day
            login(3, "amy", "198.18.0.10", minutes=40),  # 00:10 Berlin: the next day
            login(4, "amy", "100.64.1.1", minutes=5),  # another address
            login(5, None, "100.64.9.9", klass=s.SPAM_PROBE, customer=None),  # no login
        ]
    )
    rolled = rollups.daily_logins(sessions, "Europe/Berlin")
    assert list(rolled.columns) == list(rollups.LOGIN_COLUMNS)
    rows = {
        (str(r.date.date()), r.client_ip): (r.sessions, r.recipients, r.first_start, r.last_start)
        for r in rolled.itertuples()
    }
    assert rows == {
        ("2003-11-20", "100.64.1.1"): (
            1,
            1,
            T0 + pd.Timedelta(minutes=5),
            T0 + pd.Timedelta(minutes=5),
        ),
        ("2003-11-20", "198.18.0.10"): (2, 5, T0, T0 + pd.Timedelta(minutes=20)),
        ("2003-11-21", "198.18.0.10"): (
            1,
            1,
            T0 + pd.Timedelta(minutes=40),
            T0 + pd.Timedelta(minutes=40),
        ),
    }


def test_login_rollups_of_parts_add_up_to_the_rollup_of_the_whole():
    sessions = pd.DataFrame(
        [login(i, "amy", "198.18.0.10", minutes=i, recipients=i) for i in range(6)]
    )
    whole = rollups.daily_logins(sessions, "UTC")
    parts = pd.concat(
        [rollups.daily_logins(sessions[:2], "UTC"), rollups.daily_logins(sessions[2:], "UTC")]
    )
    pd.testing.assert_frame_equal(rollups.combine_logins(parts), whole)
    assert (whole[rollups.SESSIONS].tolist(), whole[s.RECIPIENTS].tolist()) == ([6], [15])


def test_blamed_refusals_count_once_per_recipient_and_only_for_logins():
    owners = pa.table({s.SESSION_ID: ["s1", "s2"], s.SASL_USERNAME: ["amy", "bob"]})
    refused = pd.DataFrame(
        {
            s.SESSION_ID: ["s1", "s1", "s1", "s2", "s9", "s2"],
            s.RECIPIENT: [
                "a@aol.com",
                "a@aol.com",
                "b@aol.com",
                "c@aol.com",
                "d@aol.com",
                "e@x.test",
            ],
            PROVIDER: ["aol", "aol", "aol", "spamhaus", "aol", None],
        }
    )
    blamed = refused[refused[PROVIDER].notna()][[s.SESSION_ID, s.RECIPIENT]]
    found = account_bounces(pa.Table.from_pandas(blamed, preserve_index=False), owners)
    # amy: a (retried: once) and b; bob: c (his e@ was refused for no blocklist); s9: no login
    assert found.per_account.to_dict() == {"amy": 2, "bob": 1}
    assert found.total == 3


def outbound(i, customer, reason, period, klass, minutes):
    return {
        s.SESSION_ID: f"o{i}",
        s.CUSTOMER_ID: customer,
        s.REASON: reason,
        s.PERIOD: period,
        s.CLASS: klass,
        s.START: T0 + pd.Timedelta(minutes=minutes),
        s.END: T0 + pd.Timedelta(minutes=minutes + 1),
        s.SERVER: "mail1",
        s.CLIENT_IP: "198.18.0.10",
        s.AUTH_FAILURES: 0,
        s.RELAY_DENIED: 1 if reason == s.R_RELAY_DENIED else 0,
    }


def test_readiness_from_the_rollup_is_readiness_from_the_sessions():
    sessions = pd.DataFrame(
        [
            outbound(1, "c1", s.R_RELAY, s.BEFORE, s.UNAUTHENTICATED, -60 * 24 * 3),
            outbound(2, "c1", s.R_SUBMISSION, s.AFTER, s.AUTHENTICATED, 10),
            outbound(3, "c2", s.R_RELAY, s.BEFORE, s.UNAUTHENTICATED, -60 * 24 * 2),
            outbound(4, "c3", s.R_RELAY_DENIED, s.AFTER, s.UNAUTHENTICATED, 30),
            outbound(5, "c3", s.R_RELAY_DENIED, s.AFTER, s.UNAUTHENTICATED, 50),
            outbound(6, "c4", s.R_SUBMISSION, s.BEFORE, s.AUTHENTICATED, -60 * 24 * 20),
        ]
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5"],
            "name": list("ABCDE"),
            "contact_email": [f"{c}@x.test" for c in "abcde"],
        }
    )
    now = T0 + pd.Timedelta(hours=2)
    direct = customer_readiness(sessions, customers, now)
    rolled = rollups.daily_sessions(sessions, "UTC")
    mine = rolled[rolled[s.CUSTOMER_ID].notna().to_numpy()]
    recent = recent_sessions(sessions, now)
    pd.testing.assert_frame_equal(
        readiness_of(mine, recent, sessions, customers, now, None), direct
    )
    status = dict(zip(direct["customer_id"], direct["status"], strict=True))
    assert status == {
        "c1": "ready",
        "c2": "at_risk",
        "c3": "broken",
        "c4": "inactive",
        "c5": "inactive",
    }
    c3 = direct.set_index("customer_id").loc["c3"]
    assert (c3["outbound_after"], c3["last_refused"]) == (2, T0 + pd.Timedelta(minutes=50))


def probe(i, ip, minutes, reason=s.R_RELAY_PROBE, klass=s.SPAM_PROBE, messages=0):
    return {
        s.SESSION_ID: f"p{i}",
        s.SERVER: "mail1",
        s.START: T0 + pd.Timedelta(minutes=minutes),
        s.CLIENT_IP: ip,
        s.CLASS: klass,
        s.REASON: reason,
        s.CUSTOMER_ID: None,
        "customer_ip": False,
        s.MESSAGES: messages,
        s.RELAY_DENIED: 1 if reason == s.R_RELAY_PROBE else 0,
        s.AUTH_FAILURES: 3 if reason == s.R_DICTIONARY else 0,
    }


def test_offenders_from_the_source_rollup_are_offenders_from_the_sessions():
    from analyzer.judgements.offenders import probe_sessions, summarize_offenders

    sessions = pd.DataFrame(
        [
            probe(1, "100.64.9.9", 0),
            probe(2, "100.64.9.9", 50),  # the next local day in Berlin
            probe(3, "100.64.9.9", 55, reason=s.R_DICTIONARY),
            probe(4, "203.0.113.5", 5),
            # the same source also delivers accepted mail: its judgement counts it
            probe(5, "203.0.113.5", 6, reason=s.R_INBOUND, klass=s.UNAUTHENTICATED, messages=4),
        ]
    )
    no_asns = pd.DataFrame({"ip": pd.Series(dtype=str), "asn": pd.Series(dtype="Int64")})
    direct = summarize_offenders(probe_sessions(sessions), no_asns, sessions)
    rolled = rollups.daily_sources(sessions, "Europe/Berlin")
    assert len(rolled) == 5  # 9.9: one row the first day, two (reasons) the next; .5: two
    from_rollup = summarize_offenders(probe_sessions(rolled), no_asns, rolled)
    pd.testing.assert_frame_equal(from_rollup, direct, check_dtype=False)  # text: NA or nan
    first = direct.iloc[0]
    assert (first["ip"], first["probe_sessions"], first["auth_failures"]) == ("100.64.9.9", 3, 3)
    second = direct.iloc[1]
    assert (second["sessions"], second["accepted_messages"]) == (2, 4)


def test_a_rollup_by_part_is_each_parts_own_rollup(demo_settings):
    # ingest rolls a chunk up once, grouped by part first, and cuts the rows along parts
    from analyzer import jobs

    sessions = jobs.analyse_logs(demo_settings).sessions
    tz = demo_settings.timezone
    part = pd.Series(["a", "b", "c"], dtype="string").iloc[sessions.index.to_numpy() % 3]
    framed = sessions.assign(_part=part.to_numpy())
    for roll_up in (rollups.daily_sessions, rollups.daily_logins, rollups.daily_sources):
        together = roll_up(framed, tz, by=("_part",))
        assert set(together["_part"]) == {"a", "b", "c"}
        for name, group in together.groupby("_part"):
            alone = roll_up(sessions[(part == name).to_numpy()], tz)
            got = group.drop(columns="_part").reset_index(drop=True)
            pd.testing.assert_frame_equal(got, alone)


def test_delivery_and_blame_rollups_by_part_are_each_parts_own(demo_settings):
    from analyzer import jobs
    from analyzer.judgements.blame import blame_rollup
    from analyzer.judgements.customers import read_customers
    from analyzer.store.derived import derive
    from analyzer.store.queries import BLAMED

    analysis = jobs.analyse_logs(demo_settings)
    customers = read_customers(demo_settings.customers)
    domains = analysis.local_domains(customers, demo_settings)
    tz = demo_settings.timezone
    deliveries = analysis.deliveries
    blamed = derive(BLAMED, deliveries, demo_settings, customers, domains)
    assert len(blamed) > 10  # the sample's refusals that name a blocklist
    for frame, roll_up in ((deliveries, rollups.daily_deliveries), (blamed, blame_rollup)):
        part = pd.Series(["a", "b"], dtype="string").iloc[frame.index.to_numpy() % 2]
        together = roll_up(frame.assign(_part=part.to_numpy()), domains, tz, by=("_part",))
        for name, group in together.groupby("_part"):
            alone = roll_up(frame[(part == name).to_numpy()], domains, tz)
            got = group.drop(columns="_part").reset_index(drop=True)
            pd.testing.assert_frame_equal(got, alone)
