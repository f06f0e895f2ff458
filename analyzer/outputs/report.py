"""The nightly summary: what happened in a period, compared with the 7 days before.

``summarise`` turns rollups of the period (``Counts``: a store's, or ``build_report``'s of
sessions in memory) into a ``Report`` (plain data, bounded: top-N lists);
``render_text`` / ``render_html`` write it through Jinja2 templates (HTML autoescaped:
HELO names and addresses are written by attackers); ``compose_message`` makes the
multipart/alternative mail with inline charts and the call list as a CSV attachment.
Nothing here sends anything: ``analyzer.outputs.mailer`` does.
"""

from __future__ import annotations

import datetime as dt
import io
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import jinja2
import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.judgements import rollups
from analyzer.judgements.blame import PROVIDER, blame_blocklists, blame_rollup
from analyzer.judgements.offenders import (
    AS_NAME,
    ASN,
    JUDGEMENT,
    PROBER,
    PROBES_PER_MESSAGE,
    probe_sessions,
    summarize_offenders,
)
from analyzer.judgements.pipeline import select_period
from analyzer.judgements.readiness import (
    CUSTOMER_EXPORT_COLUMNS,
    LAST_REFUSED,
    as_of,
    call_list,
    customer_readiness,
)
from analyzer.outputs import traffic
from analyzer.outputs.exports import frame_to_csv, to_iso
from analyzer.reading.patterns import ReasonRule
from analyzer.reading.patterns.bounces import BLOCKLIST_BOUNCES
from analyzer.sessions.messages import REFUSED_STATUSES

BASELINE_DAYS = 7
TOP = 10
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("analyzer.outputs", "templates"),
    autoescape=jinja2.select_autoescape(["html", "html.j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class Report:
    """One period's summary (all lists already cut to their top entries)."""

    since: dt.date
    until: dt.date
    baseline_days: int
    timezone: str
    classes: list[dict] = field(default_factory=list)  # class, count, baseline_per_day
    # unauthenticated split: group, label, meaning, count, baseline_per_day
    # (analyzer.outputs.traffic)
    unauthenticated: list[dict] = field(default_factory=list)
    relays_customers: int = 0
    relays_probes: int = 0
    auth_failures: int = 0
    auth_failures_baseline: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    status_changes: list[dict] = field(default_factory=list)
    call_list: pd.DataFrame = field(default_factory=pd.DataFrame)
    new_offenders: list[dict] = field(default_factory=list)
    top_asns: list[dict] = field(default_factory=list)
    account_jumps: list[dict] = field(default_factory=list)
    servers: list[dict] = field(default_factory=list)
    own_ips: list[dict] = field(default_factory=list)  # ip, level, risk_score, listed_on, evidence
    risky_accounts: list[dict] = field(default_factory=list)  # login, level, score, flags, ...
    dashboard_url: str | None = None
    daily_traffic: pd.DataFrame = field(default_factory=pd.DataFrame)  # day x traffic group
    # what the reader should know first: inferred settings, a store behind its logs
    notes: list[str] = field(default_factory=list)

    @property
    def call_rows(self) -> list[dict]:
        """The call list as the mail shows it, most urgent first (local ISO times, empty
        cells for none)."""
        if self.call_list.empty:
            return []
        rows = self.call_list.assign(
            **{
                column: to_iso(self.call_list[column], self.timezone)
                for column in ("last_unauthenticated", LAST_REFUSED)
            }
        )
        return [
            {k: ("" if pd.isna(v) else v) for k, v in row.items()}
            for row in rows.to_dict("records")
        ]

    @property
    def title(self) -> str:
        days = f"{self.since}" if self.since == self.until else f"{self.since} – {self.until}"
        return f"relaywatch summary for {days}"


def default_period(
    sessions: pd.DataFrame, timezone: str, now: pd.Timestamp
) -> tuple[dt.date, dt.date]:
    """The last complete local day: yesterday for live logs, else the day before the last
    session of the logs."""
    day = last_complete_day(sessions[s.START].max() if len(sessions) else None, timezone, now)
    return day, day


def last_complete_day(last: pd.Timestamp | None, timezone: str, now: pd.Timestamp) -> dt.date:
    """The nightly mail's day: yesterday for live logs, else the day before ``last`` (the
    last session's start)."""
    today = now.tz_convert(timezone).date()
    if last is not None and pd.notna(last):
        today = min(today, last.tz_convert(timezone).date())
    return today - dt.timedelta(days=1)


def dashboard_link(url: str | None, since: dt.date, until: dt.date) -> str | None:
    """The dashboard opened on the report's days (its filters in the query string)."""
    if not url:
        return None
    query = urllib.parse.urlencode({"since": since.isoformat(), "until": until.isoformat()})
    return f"{url}{'&' if '?' in url else '?'}{query}"


@dataclass(frozen=True)
class Counts:
    """What the summary counts its sessions from: rollups (``analyzer.judgements.rollups``, a
    few rows per day and key, however many sessions) of the window (the baseline days and the
    period) and, for the offenders, of the period; and ``helos``: for some probing addresses, the
    HELO each used most in the period's spam probes."""

    daily: pd.DataFrame  # daily_sessions rows of the window
    logins: pd.DataFrame  # daily_logins rows of the window
    sources: pd.DataFrame  # daily_sources rows of the period
    deliveries: pd.DataFrame  # daily_deliveries rows of the period
    blames: pd.DataFrame  # blame_rollup rows (refused deliveries) of the period
    helos: Callable[[Sequence[str]], pd.Series]


def session_counts(
    sessions: pd.DataFrame,
    deliveries: pd.DataFrame,
    since: dt.date,
    until: dt.date,
    timezone: str,
    local_domains: frozenset[str] = frozenset(),
    bounce_rules: Sequence[ReasonRule] = BLOCKLIST_BOUNCES,
) -> Counts:
    """``Counts`` of classified sessions and delivery attempts (only the window's count)."""
    start = since - dt.timedelta(days=BASELINE_DAYS)
    window = select_period(sessions, start, until, timezone)
    period = select_period(sessions, since, until, timezone)
    attempts = select_period(deliveries, since, until, timezone, s.TS)
    refused = attempts[attempts[s.STATUS].isin(REFUSED_STATUSES).fillna(False).to_numpy()]
    blamed = blame_blocklists(refused, (), bounce_rules)
    return Counts(
        rollups.daily_sessions(window, timezone),
        rollups.daily_logins(window, timezone),
        rollups.daily_sources(period, timezone),
        rollups.daily_deliveries(attempts, local_domains, timezone),
        blame_rollup(blamed, local_domains, timezone),
        lambda ips: most_used_helos(period, ips),
    )


def most_used_helos(sessions: pd.DataFrame, ips: Sequence[str]) -> pd.Series:
    """Per address of ``ips``, the HELO its spam-probe ``sessions`` used most (the first in
    order among equals; none without one), indexed by address."""
    probes = sessions[
        (sessions[s.CLASS] == s.SPAM_PROBE).to_numpy() & sessions[s.CLIENT_IP].isin(ips).to_numpy()
    ]
    return probes.groupby(s.CLIENT_IP)[s.HELO].agg(
        lambda v: v.mode().iloc[0] if v.notna().any() else None
    )


def build_report(
    sessions: pd.DataFrame,
    deliveries: pd.DataFrame,
    customers: pd.DataFrame,
    asns: pd.DataFrame,
    since: dt.date,
    until: dt.date,
    timezone: str,
    own_ips: tuple[str, ...] = (),
    local_domains: frozenset[str] = frozenset(),
    dashboard_url: str | None = None,
    ip_risk: pd.DataFrame | None = None,
    account_risk: pd.DataFrame | None = None,
    bounce_rules: Sequence[ReasonRule] = BLOCKLIST_BOUNCES,
    notes: Sequence[str] = (),
    probes_per_message: float = PROBES_PER_MESSAGE,
    rejects: pd.DataFrame | None = None,
) -> Report:
    """Summarise [since, until] (local days) of classified ``sessions`` (all of them: the
    statuses read their history) against the ``BASELINE_DAYS`` before it (``notes``: said
    first, e.g. which settings were inferred).

    ``ip_risk`` / ``account_risk``: the ``risk`` and ``accounts`` exports of the period
    (``analyzer.judgements.risk``); accounts below ``high`` are left out of the mail.
    ``rejects``: the refused commands (``Analysis.rejects``), for the recipient domain of each
    customer's last refused relay in the call list. A store's summary is ``summarise`` of its
    rollups."""
    then = since - dt.timedelta(days=1)
    upto = sessions[sessions[s.START] < as_of(until, timezone)]
    before = sessions[sessions[s.START] < as_of(then, timezone)]
    refused = None if rejects is None else rejects[rejects[s.TS] < as_of(until, timezone)]
    readiness = (
        customer_readiness(upto, customers, as_of(until, timezone), refused),
        customer_readiness(before, customers, as_of(then, timezone)),
    )
    earlier = set(probe_sessions(before, own_ips)[s.CLIENT_IP])
    counts = session_counts(
        sessions, deliveries, since, until, timezone, local_domains, bounce_rules
    )
    return summarise(
        counts,
        readiness,
        earlier,
        asns,
        since,
        until,
        timezone,
        own_ips,
        dashboard_url,
        ip_risk,
        account_risk,
        notes,
        probes_per_message,
    )


def summarise(
    counts: Counts,
    readiness: tuple[pd.DataFrame, pd.DataFrame],
    earlier_sources: set[str],
    asns: pd.DataFrame,
    since: dt.date,
    until: dt.date,
    timezone: str,
    own_ips: tuple[str, ...] = (),
    dashboard_url: str | None = None,
    ip_risk: pd.DataFrame | None = None,
    account_risk: pd.DataFrame | None = None,
    notes: Sequence[str] = (),
    probes_per_message: float = PROBES_PER_MESSAGE,
) -> Report:
    """The ``Report`` of [since, until] from ``counts`` (``Counts``), ``readiness`` (the
    ``customers`` export as of the end of ``until`` and of the day before ``since``) and
    ``earlier_sources`` (the addresses that probed before the period). Nothing here grows
    with the store's history."""
    start = since - dt.timedelta(days=BASELINE_DAYS)
    daily, logins = counts.daily, counts.logins
    period = _days(daily, since, until)
    baseline = _days(daily, start, since - dt.timedelta(days=1))

    def total(rows: pd.DataFrame, keep=None, column: str = rollups.SESSIONS) -> int:
        chosen = rows if keep is None else rows[np.asarray(keep, dtype=bool)]
        return int(chosen[column].sum())

    def per_day(rows: pd.DataFrame, keep=None, column: str = rollups.SESSIONS) -> float:
        return round(total(rows, keep, column) / BASELINE_DAYS, 1)

    classes = [
        {
            "class": c,
            "count": total(period, (period[s.CLASS] == c).fillna(False)),
            "baseline_per_day": per_day(baseline, (baseline[s.CLASS] == c).fillna(False)),
        }
        for c in s.CLASSES
    ]
    period_groups = traffic.traffic_groups(period)
    baseline_groups = traffic.traffic_groups(baseline)
    unauthenticated = [
        {
            "group": g,
            "label": traffic.LABELS[g],
            "meaning": traffic.MEANINGS[g],
            "count": total(period, period_groups == g),
            "baseline_per_day": per_day(baseline, baseline_groups == g),
        }
        for g in traffic.UNAUTHENTICATED_GROUPS
    ]
    relays = total(period, column=rollups.RELAY_SESSIONS)
    unready = total(
        period, (period[s.REASON] == s.R_RELAY_DENIED).fillna(False), rollups.RELAY_SESSIONS
    )

    now_table, then_table = readiness
    changed = now_table.merge(
        then_table[["customer_id", "status"]], on="customer_id", suffixes=("", "_before")
    )
    changed = changed[changed["status"] != changed["status_before"]]
    calls = call_list(now_table)

    probes_now = probe_sessions(counts.sources, own_ips)
    offenders = summarize_offenders(probes_now, asns, counts.sources, probes_per_message)
    # a mailer's few typos are no news: only probers (analyzer.judgements.offenders)
    probers = offenders[(offenders[JUDGEMENT] == PROBER).to_numpy()]
    fresh = probers[~probers["ip"].isin(earlier_sources)].head(TOP)
    helos = counts.helos(fresh["ip"].astype(str).tolist()) if len(fresh) else pd.Series()
    new_offenders = [
        {
            "ip": r.ip,
            "asn": None if pd.isna(r.asn) else int(r.asn),
            "as_name": None if pd.isna(r.as_name) else str(r.as_name),
            "sessions": int(r.probe_sessions),
            "helo": _text(helos.get(r.ip)),
        }
        for r in fresh.itertuples(index=False)
    ]
    by_asn = (
        offenders.dropna(subset=[ASN])
        .groupby(ASN)
        .agg(sessions=("probe_sessions", "sum"), ips=("ip", "nunique"), name=(AS_NAME, "first"))
    )
    top_asns = [
        {
            "asn": int(a),
            "name": str(r["name"]) if pd.notna(r["name"]) else "",
            "sessions": int(r.sessions),
            "ips": int(r.ips),
        }
        for a, r in by_asn.sort_values("sessions", ascending=False).head(5).iterrows()
    ]

    return Report(
        since=since,
        until=until,
        baseline_days=BASELINE_DAYS,
        timezone=timezone,
        classes=classes,
        unauthenticated=unauthenticated,
        relays_customers=unready,
        relays_probes=relays - unready,
        auth_failures=total(period, column=s.AUTH_FAILURES),
        auth_failures_baseline=per_day(baseline, column=s.AUTH_FAILURES),
        statuses={k: int(v) for k, v in now_table["status"].value_counts().items()},
        status_changes=[
            {"customer_id": r.customer_id, "name": r.name, "from": r.status_before, "to": r.status}
            for r in changed.head(2 * TOP).itertuples(index=False)
        ],
        call_list=calls.head(2 * TOP),
        new_offenders=new_offenders,
        top_asns=top_asns,
        account_jumps=_account_jumps(
            _days(logins, since, until), _days(logins, start, since - dt.timedelta(days=1))
        ),
        servers=_servers(counts.deliveries, counts.blames),
        own_ips=_own_ips(ip_risk),
        risky_accounts=_risky_accounts(account_risk),
        dashboard_url=dashboard_link(dashboard_url, since, until),
        daily_traffic=_daily_traffic(daily, start, until),
        notes=list(notes),
    )


def _days(rows: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The rollup rows of the local days ``first``..``last``."""
    days = rows[rollups.DATE].dt.date
    return rows[((days >= first) & (days <= last)).fillna(False).to_numpy(dtype=bool)]


def _own_ips(table: pd.DataFrame | None) -> list[dict]:
    if table is None:
        return []
    columns = ["ip", "level", "risk_score", "listed_on", "evidence"]
    return [
        {k: ("" if pd.isna(v) else v) for k, v in row.items()}
        for row in table[columns].to_dict("records")
    ]


def _risky_accounts(table: pd.DataFrame | None) -> list[dict]:
    if table is None:
        return []
    risky = table[table["level"].isin(["high", "critical"]).to_numpy()].head(TOP)
    return [
        {
            "login": r.sasl_username,
            "customer_id": "" if pd.isna(r.customer_id) else r.customer_id,
            "level": r.level,
            "risk_score": int(r.risk_score),
            "flags": r.flags.replace(";", ", "),
            "recipients": int(r.recipients),
            "distinct_ips": int(r.distinct_ips),
        }
        for r in risky.itertuples(index=False)
    ]


def _account_jumps(period: pd.DataFrame, baseline: pd.DataFrame) -> list[dict]:
    """Logins whose recipients in the period are far above their own daily average (login
    rollup rows of the period and of the baseline)."""
    now = period.groupby(s.SASL_USERNAME)[s.RECIPIENTS].sum()
    usual = baseline.groupby(s.SASL_USERNAME)[s.RECIPIENTS].sum() / BASELINE_DAYS
    table = pd.DataFrame({"recipients": now, "usual_per_day": usual.reindex(now.index).fillna(0)})
    jumped = table[(table["recipients"] >= 50) & (table["recipients"] > 3 * table["usual_per_day"])]
    jumped = jumped.sort_values("recipients", ascending=False).head(TOP)
    return [
        {
            "login": login,
            "recipients": int(r.recipients),
            "usual_per_day": round(float(r.usual_per_day), 1),
        }
        for login, r in jumped.iterrows()
    ]


def _servers(deliveries: pd.DataFrame, blames: pd.DataFrame) -> list[dict]:
    """Deliveries to other domains per server (delivery rollup rows), and how many replies
    blame a blocklist (blame rollup rows of the refused deliveries: ``[bounce_patterns]``
    and the built-in rules)."""
    outbound = deliveries[deliveries[rollups.OUTBOUND].to_numpy(dtype=bool)]
    blamed = blames[
        blames[rollups.OUTBOUND].to_numpy(dtype=bool)
        & blames[PROVIDER].notna().to_numpy()
        & blames[s.STATUS].isin(REFUSED_STATUSES).fillna(False).to_numpy()
    ]
    by_server = blamed.groupby(s.SERVER)[rollups.DELIVERIES].sum()
    rows = []
    for server, part in outbound.groupby(s.SERVER, sort=True):
        count = part.groupby(s.STATUS)[rollups.DELIVERIES].sum()
        rows.append(
            {
                "server": server,
                "deliveries": int(part[rollups.DELIVERIES].sum()),
                "deferred": int(count.get("deferred", 0)),
                "bounced": int(count.get("bounced", 0)),
                "blocklist": int(by_server.get(server, 0)),
            }
        )
    return rows


def _daily_traffic(daily: pd.DataFrame, start: dt.date, until: dt.date) -> pd.DataFrame:
    """Sessions per local day (rows, every day) and traffic group (columns, ``GROUPS``), from
    the session rollup's rows."""
    rows = _days(daily, start, until)
    table = pd.crosstab(
        rows[rollups.DATE].dt.date.rename(s.START),  # the day of the sessions' start
        traffic.traffic_groups(rows).rename(traffic.TRAFFIC),
        values=rows[rollups.SESSIONS],
        aggfunc="sum",
    )
    table = table.reindex(columns=list(traffic.GROUPS), fill_value=0).fillna(0).astype("int64")
    days = [start + dt.timedelta(days=i) for i in range((until - start).days + 1)]
    return table.reindex(days, fill_value=0)


def render_text(report: Report) -> str:
    return _TEMPLATES.get_template("report.txt.j2").render(r=report, labels=LABELS)


def render_html(report: Report, chart_cid: str | None) -> str:
    return _TEMPLATES.get_template("report.html.j2").render(
        r=report, labels=LABELS, colors=traffic.COLORS, chart_cid=chart_cid
    )


LABELS = {
    s.AUTHENTICATED: "Authenticated",
    s.UNAUTHENTICATED: "Unauthenticated",
    s.SPAM_PROBE: "Spam probes",
}


def class_chart_png(report: Report) -> bytes:
    """Sessions per traffic group per day over the baseline and the period (matplotlib, no
    browser), in the dashboard's colours: inbound mail apart from customers' relays."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    table = report.daily_traffic
    figure, axis = plt.subplots(figsize=(7, 3.4), dpi=100)
    bottom = None
    labels = [d.strftime("%a %d") for d in table.index]
    for group in traffic.GROUPS:
        values = table[group].to_numpy()
        axis.bar(
            labels, values, bottom=bottom, color=traffic.COLORS[group], label=traffic.LABELS[group]
        )
        bottom = values if bottom is None else bottom + values
    axis.set_title("Sessions per day (last bars: the report period)", fontsize=10, pad=34)
    # above the bars, never on them: three entries a row under the title
    axis.legend(fontsize=7, frameon=False, ncol=3, loc="lower left", bbox_to_anchor=(0, 1.0))
    axis.tick_params(labelsize=8)
    axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def compose_message(
    report: Report, sender: str, recipients: tuple[str, ...], now: pd.Timestamp
) -> EmailMessage:
    """multipart/mixed: alternative (text, related(html, chart)) + the call list as CSV."""
    message = EmailMessage()
    message["Subject"] = report.title
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now.to_pydatetime())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    cid = make_msgid(idstring="classes")
    message.set_content(render_text(report))
    message.add_alternative(render_html(report, cid[1:-1]), subtype="html")
    message.get_payload()[1].add_related(
        class_chart_png(report), "image", "png", cid=cid, filename="sessions.png"
    )
    columns = list(CUSTOMER_EXPORT_COLUMNS)
    table = report.call_list if len(report.call_list) else pd.DataFrame(columns=columns)
    message.add_attachment(
        frame_to_csv(table, columns, report.timezone).encode("utf-8"),
        maintype="text",
        subtype="csv",
        filename=f"customers-at-risk-{report.until}.csv",
    )
    return message


def _text(value: object) -> str | None:
    """A cell as text for the templates (None for missing, never pandas' NA)."""
    return None if value is None or pd.isna(value) else str(value)
