"""The nightly summary: what happened in a period, compared with the 7 days before.

``build_report`` turns the analysis into a ``Report`` (plain data, bounded: top-N lists);
``render_text`` / ``render_html`` write it through Jinja2 templates (HTML autoescaped:
HELO names and addresses are written by attackers); ``compose_message`` makes the
multipart/alternative mail with inline charts and the call list as a CSV attachment.
Nothing here sends anything: ``analyzer.io.mailer`` does.
"""

from __future__ import annotations

import datetime as dt
import io
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import jinja2
import pandas as pd

from analyzer import schema as s
from analyzer import traffic
from analyzer.blame import PROVIDER, blame_blocklists
from analyzer.customers import CUSTOMER_IP
from analyzer.exports import frame_to_csv, to_iso
from analyzer.messages import REFUSED_STATUSES, outbound_deliveries
from analyzer.offenders import (
    AS_NAME,
    ASN,
    JUDGEMENT,
    PROBER,
    PROBES_PER_MESSAGE,
    probe_sessions,
    summarize_offenders,
)
from analyzer.patterns import ReasonRule
from analyzer.patterns.bounces import BLOCKLIST_BOUNCES
from analyzer.pipeline import select_period
from analyzer.readiness import (
    CUSTOMER_EXPORT_COLUMNS,
    LAST_REFUSED,
    as_of,
    call_list,
    customer_readiness,
)

BASELINE_DAYS = 7
TOP = 10
# What the summary reads of the period's and the baseline's sessions.
REPORT_COLUMNS = (
    s.SESSION_ID, s.START, s.CLASS, s.REASON, s.CLIENT_IP, CUSTOMER_IP, s.HELO, s.MESSAGES,
    s.RELAY_DENIED, s.AUTH_FAILURES, s.SASL_USERNAME, s.RECIPIENTS,
)  # fmt: skip
# ... and of the period's deliveries (per server, to other domains, blamed on a blocklist).
REPORT_DELIVERY_COLUMNS = (s.TS, s.SERVER, s.STATUS, s.RECIPIENT, s.REPLY)
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("analyzer", "templates"),
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
    # unauthenticated split: group, label, meaning, count, baseline_per_day (analyzer.traffic)
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
    today = now.tz_convert(timezone).date()
    if len(sessions):
        last = sessions[s.START].max().tz_convert(timezone).date()
        today = min(today, last)
    day = today - dt.timedelta(days=1)
    return day, day


def dashboard_link(url: str | None, since: dt.date, until: dt.date) -> str | None:
    """The dashboard opened on the report's days (its filters in the query string)."""
    if not url:
        return None
    query = urllib.parse.urlencode({"since": since.isoformat(), "until": until.isoformat()})
    return f"{url}{'&' if '?' in url else '?'}{query}"


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
    history: pd.DataFrame | None = None,
    earlier_sources: set[str] | None = None,
    readiness: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> Report:
    """Summarise [since, until] (local days) against the ``BASELINE_DAYS`` before it
    (``notes``: said first, e.g. which settings were inferred).

    ``ip_risk`` / ``account_risk``: the ``risk`` and ``accounts`` exports of the period
    (``analyzer.risk``); accounts below ``high`` are left out of the mail. ``rejects``: the
    refused commands (``Analysis.rejects``), for the recipient domain of each customer's last
    refused relay in the call list.

    ``sessions`` need only cover the period and the baseline, and only ``REPORT_COLUMNS``,
    when ``readiness`` (the ``customers`` export as of the end of ``until`` and of the day
    before ``since``; else made from ``history``, customers' outbound sessions up to
    ``until``, or from ``sessions``) and ``earlier_sources`` (the addresses that probed
    before the period) are given: a store is never read whole."""
    start = since - dt.timedelta(days=BASELINE_DAYS)
    history = sessions if history is None else history
    period = select_period(sessions, since, until, timezone)
    baseline = select_period(sessions, start, since - dt.timedelta(days=1), timezone)
    classes = [
        {
            "class": c,
            "count": int((period[s.CLASS] == c).sum()),
            "baseline_per_day": round((baseline[s.CLASS] == c).sum() / BASELINE_DAYS, 1),
        }
        for c in s.CLASSES
    ]
    period_groups, baseline_groups = (
        traffic.traffic_groups(period),
        traffic.traffic_groups(baseline),
    )
    unauthenticated = [
        {
            "group": g,
            "label": traffic.LABELS[g],
            "meaning": traffic.MEANINGS[g],
            "count": int((period_groups == g).sum()),
            "baseline_per_day": round((baseline_groups == g).sum() / BASELINE_DAYS, 1),
        }
        for g in traffic.UNAUTHENTICATED_GROUPS
    ]
    relays = period[(period[s.RELAY_DENIED] > 0).to_numpy()]
    unready = int((relays[s.REASON] == s.R_RELAY_DENIED).sum())

    if readiness is None:
        upto = history[history[s.START] < as_of(until, timezone)]
        before = history[history[s.START] < as_of(since - dt.timedelta(days=1), timezone)]
        now_table = customer_readiness(
            upto,
            customers,
            as_of(until, timezone),
            None if rejects is None else rejects[rejects[s.TS] < as_of(until, timezone)],
        )
        then_table = customer_readiness(
            before, customers, as_of(since - dt.timedelta(days=1), timezone)
        )
    else:
        now_table, then_table = readiness
    changed = now_table.merge(
        then_table[["customer_id", "status"]], on="customer_id", suffixes=("", "_before")
    )
    changed = changed[changed["status"] != changed["status_before"]]
    calls = call_list(now_table)

    probes_now = probe_sessions(period, own_ips)
    if earlier_sources is None:
        cut = as_of(since - dt.timedelta(days=1), timezone)
        earlier_sources = set(
            probe_sessions(sessions[sessions[s.START] < cut], own_ips)[s.CLIENT_IP]
        )
    earlier = earlier_sources
    offenders = summarize_offenders(probes_now, asns, period, probes_per_message)
    helos = probes_now.groupby(s.CLIENT_IP)[s.HELO].agg(
        lambda v: v.mode().iloc[0] if v.notna().any() else None
    )
    # a mailer's few typos are no news: only probers (analyzer.offenders)
    probers = offenders[(offenders[JUDGEMENT] == PROBER).to_numpy()]
    fresh = probers[~probers["ip"].isin(earlier)].head(TOP)
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
        relays_probes=len(relays) - unready,
        auth_failures=int(period[s.AUTH_FAILURES].sum()),
        auth_failures_baseline=round(float(baseline[s.AUTH_FAILURES].sum()) / BASELINE_DAYS, 1),
        statuses={k: int(v) for k, v in now_table["status"].value_counts().items()},
        status_changes=[
            {"customer_id": r.customer_id, "name": r.name, "from": r.status_before, "to": r.status}
            for r in changed.head(2 * TOP).itertuples(index=False)
        ],
        call_list=calls.head(2 * TOP),
        new_offenders=new_offenders,
        top_asns=top_asns,
        account_jumps=_account_jumps(period, baseline),
        servers=_servers(deliveries, since, until, timezone, local_domains, bounce_rules),
        own_ips=_own_ips(ip_risk),
        risky_accounts=_risky_accounts(account_risk),
        dashboard_url=dashboard_link(dashboard_url, since, until),
        daily_traffic=_daily_traffic(sessions, start, until, timezone),
        notes=list(notes),
    )


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
    """Logins whose recipients in the period are far above their own daily average."""
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


def _servers(
    deliveries: pd.DataFrame,
    since: dt.date,
    until: dt.date,
    timezone: str,
    local_domains: frozenset[str],
    bounce_rules: Sequence[ReasonRule] = BLOCKLIST_BOUNCES,
) -> list[dict]:
    """Deliveries to other domains per server, and how many replies blame a blocklist
    (``bounce_rules``: the configured ``[bounce_patterns]`` and the built-in ones)."""
    frame = select_period(deliveries, since, until, timezone, s.TS)
    outbound = outbound_deliveries(frame, local_domains)
    rows = []
    for server, part in outbound.groupby(s.SERVER, sort=True):
        refused = part[part[s.STATUS].isin(REFUSED_STATUSES).to_numpy()]
        blamed = blame_blocklists(refused, (), bounce_rules)[PROVIDER].notna()
        rows.append(
            {
                "server": server,
                "deliveries": len(part),
                "deferred": int((part[s.STATUS] == "deferred").sum()),
                "bounced": int((part[s.STATUS] == "bounced").sum()),
                "blocklist": int(blamed.sum()),
            }
        )
    return rows


def _daily_traffic(
    sessions: pd.DataFrame, start: dt.date, until: dt.date, timezone: str
) -> pd.DataFrame:
    """Sessions per local day (rows, every day) and traffic group (columns, ``GROUPS``)."""
    window = select_period(sessions, start, until, timezone)
    day = window[s.START].dt.tz_convert(timezone).dt.date
    groups = traffic.traffic_groups(window).rename(traffic.TRAFFIC)
    table = pd.crosstab(day, groups).reindex(columns=list(traffic.GROUPS), fill_value=0)
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
