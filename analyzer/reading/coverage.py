"""How well the rules cover the input: lines per rule, and the lines nobody understood.

This is what ``relaywatch patterns check`` prints, and what a run reports about bad input.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.reading.patterns import Rule

MATCHED = "matched"
BUCKETS = (MATCHED, s.EV_IGNORED, s.EV_UNMATCHED, s.EV_MALFORMED)
# Lines of a run of consecutive problem lines (unmatched or malformed) kept as samples; all
# are counted. A crash's NULs or a flood of empty lines is one run, not millions of rows.
RUN_SAMPLES = 10


def bucket_counts(events: pd.DataFrame) -> pd.DataFrame:
    """Lines per source (index) and bucket (one int column per ``BUCKETS`` entry)."""
    # An event is its own bucket if it is one (ignored, unmatched, malformed), else matched;
    # decided per distinct event, not per line: ingest counts every chunk.
    codes, events_seen = pd.factorize(events[s.EVENT])
    bucket_of_event = [BUCKETS.index(e) if e in BUCKETS[1:] else 0 for e in events_seen]
    bucket = np.array([*bucket_of_event, 0], dtype=np.int64)[codes]  # code -1 (null): matched
    sources, source_codes = np.unique(events[s.SOURCE].to_numpy(), return_inverse=True)
    counts = np.bincount(
        source_codes * len(BUCKETS) + bucket, minlength=len(sources) * len(BUCKETS)
    ).reshape(len(sources), len(BUCKETS))
    return pd.DataFrame(counts, index=pd.Index(sources, name=s.SOURCE), columns=list(BUCKETS))


def sample_runs(problems: pd.DataFrame, per_run: int = RUN_SAMPLES) -> pd.DataFrame:
    """The first ``per_run`` lines of each run of consecutive lines (same ``source``, each
    ``line_no`` one after the last) of ``problems``, which are in line order.

    Requires: ``source``, ``line_no``.
    """
    source = problems[s.SOURCE].to_numpy()
    line_no = problems[s.LINE_NO].to_numpy()
    starts_run = np.r_[True, (source[1:] != source[:-1]) | (line_no[1:] != line_no[:-1] + 1)]
    place = np.arange(len(problems))
    run_start = np.maximum.accumulate(np.where(starts_run, place, 0)) if len(place) else place
    keep = place - run_start < per_run
    return problems if keep.all() else problems[keep].reset_index(drop=True)


def line_summary(events: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """Per input file: ``path``, ``lines`` and one count column per bucket (ints)."""
    return lines_table(sources, bucket_counts(events))


def lines_table(sources: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """``source``, ``path``, ``lines`` and the bucket counts of each source (``counts``:
    indexed by source, as ``bucket_counts``; a source without counts has none)."""
    table = sources[[s.SOURCE, "path"]].set_index(s.SOURCE).join(counts).fillna(0)
    table[list(BUCKETS)] = table[list(BUCKETS)].astype("int64")
    table.insert(1, "lines", table[list(BUCKETS)].sum(axis=1))
    return table.reset_index()


def poorly_covered(summary: pd.DataFrame, minimum_pct: float) -> pd.DataFrame:
    """The files of a ``line_summary`` whose lines are less than ``minimum_pct`` % matched
    or knowingly ignored (other programs): ``path``, ``lines``, ``covered_pct``."""
    covered = summary[MATCHED] + summary[s.EV_IGNORED]
    pct = (100 * covered / summary["lines"].where(summary["lines"] > 0)).fillna(100.0)
    table = summary.assign(covered_pct=pct.round(2))
    return table.loc[table["covered_pct"] < minimum_pct, ["path", "lines", "covered_pct"]]


def rule_counts(events: pd.DataFrame) -> pd.DataFrame:
    """Lines per rule (``rule``, ``event``, ``lines``, first ``source``/``line_no`` as example),
    most frequent first; ties by rule name so the output is repeatable."""
    matched = events[events[s.RULE].notna().to_numpy()].sort_values(s.SEQ, kind="stable")
    if matched.empty:
        return pd.DataFrame(columns=[s.RULE, s.EVENT, "lines", s.SOURCE, s.LINE_NO])
    grouped = matched.groupby(s.RULE, sort=True).agg(
        event=(s.EVENT, "first"),
        lines=(s.EVENT, "size"),
        source=(s.SOURCE, "first"),
        line_no=(s.LINE_NO, "first"),
    )
    return (
        grouped.reset_index()
        .sort_values(["lines", s.RULE], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )


def ignored_programs(events: pd.DataFrame) -> pd.Series:
    """Lines per program for programs that are not Postfix (CRON, dovecot, ...)."""
    ignored = events[(events[s.EVENT] == s.EV_IGNORED).fillna(False).to_numpy()]
    return ignored[s.PROGRAM].fillna("(syslog itself)").astype(str).value_counts().sort_index()


# The message part of a line: after "program[pid]: " (syslog) or an Exim mainlog's stamp.
_MESSAGE = re.compile(
    r"^(?:.*?[\w./-]+(?:\[\d+\])?: |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?"
    r"(?: [-+]\d{4})?(?: \[\d+\])? )"
)
HOW_TO_ADD = (
    "a shape of your own servers: add a [[rules]] entry to the config (docs/configuration.md, "
    '"[[rules]]"); a known reject with your own text: [reject_patterns]'
)


def nearest_rule(raw: str, daemon: object, rules: Sequence[Rule]) -> tuple[Rule, float] | None:
    """The rule (of the line's daemon, when it has one) whose example is most like the line's
    message, and how alike (0..1): where to look when a line is unmatched."""
    message = _MESSAGE.sub("", raw, count=1)
    candidates = [r for r in rules if not isinstance(daemon, str) or daemon in r.daemons]
    best: tuple[Rule, float] | None = None
    for rule in candidates:
        for example in rule.examples:
            matcher = difflib.SequenceMatcher(None, message, example, autojunk=False)
            if best is not None and matcher.quick_ratio() <= best[1]:
                continue
            ratio = matcher.ratio()
            if best is None or ratio > best[1]:
                best = (rule, ratio)
    return best


def render_check(
    events: pd.DataFrame,
    counts: pd.DataFrame,
    programs: pd.Series,
    sources: pd.DataFrame,
    each: bool = False,
    limit: int = 50,
    rules: Sequence[Rule] = (),
) -> str:
    """The text of ``relaywatch patterns check``: totals, lines per rule, the misses (each
    unmatched one with the ``rules`` entry most like it, and how to add one)."""
    names = sources.set_index(s.SOURCE)["path"]

    def where(source: int, line_no: int) -> str:
        return f"{names[source]}:{line_no}"

    events = events.sort_values(s.SEQ, kind="stable")
    out: list[str] = []
    buckets = bucket_counts(events).sum()
    out.append(f"{len(events)} lines in {len(sources)} file(s)")
    for bucket, count in buckets.items():
        out.append(f"  {bucket:<10} {count:>9}")
    out.append("")
    out.append(f"{'rule':<28} {'event':<14} {'lines':>9}  first match")
    for row in counts.itertuples(index=False):
        out.append(
            f"{row.rule:<28} {row.event:<14} {row.lines:>9}  {where(row.source, row.line_no)}"
        )
    if len(programs):
        out.append("")
        out.append(
            "other programs (ignored): "
            + ", ".join(f"{name} {count}" for name, count in programs.items())
        )
    for bucket in (s.EV_UNMATCHED, s.EV_MALFORMED):
        misses = events[(events[s.EVENT] == bucket).fillna(False).to_numpy()]
        out.append("")
        out.append(f"{bucket} lines: {len(misses)}")
        shown = misses if limit == 0 else misses.head(limit)
        for row in shown.itertuples(index=False):
            out.append(f"  {where(row.source, row.line_no)}: {_printable(row.raw)}")
            near = (
                nearest_rule(str(row.raw), row.daemon, rules) if bucket == s.EV_UNMATCHED else None
            )
            if near is not None:
                rule, ratio = near
                example = _printable(rule.examples[0])
                out.append(f"      nearest rule: {rule.name} ({ratio:.0%} like {example!r})")
        if len(shown) < len(misses):
            out.append(f"  ... {len(misses) - len(shown)} more (--limit 0 shows all)")
        if bucket == s.EV_UNMATCHED and len(misses) and rules:
            out.append(f"  to match them: {HOW_TO_ADD}")
    if each:
        out.append("")
        out.append("every line:")
        for row in events.itertuples(index=False):
            label = row.rule if isinstance(row.rule, str) else row.event
            out.append(f"{where(row.source, row.line_no)}\t{label}\t{_printable(row.raw)}")
    return "\n".join(out) + "\n"


def _printable(text: object) -> str:
    """Control characters (NUL, escape sequences) shown escaped, never sent to the terminal."""
    value = "" if not isinstance(text, str) else text
    return "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in value)
