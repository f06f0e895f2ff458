"""Regexes as data: tables of named, tested rules per log format.

Each ``Rule`` is matched only against the message part of lines from its own daemon
(after the syslog header has been split off), so a rule never pays for another program's
lines. Group names are column names from ``analyzer.schema``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from analyzer import schema as s
from analyzer.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Rule:
    """One log message pattern.

    Attributes:
        name: unique, stable name shown by ``relaywatch patterns check``.
        daemons: Postfix daemon names (last part of the syslog program) the rule applies to.
        event: the event kind a match produces (``analyzer.schema.EV_*``).
        regex: anchored RE2-compatible pattern with named groups only.
        examples: real-format message parts (header removed) the rule must match.
        constants: (column, value) pairs every match gets, for what the rule itself says
            (an Exim "**" line is a bounce without writing "status=bounced").
        closes: the line ends its connection (for sessions cut at the end of the input).
    """

    name: str
    daemons: tuple[str, ...]
    event: str
    regex: str
    examples: tuple[str, ...] = field(default=())
    constants: tuple[tuple[str, str], ...] = field(default=())
    closes: bool = False

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(re.compile(self.regex).groupindex)


@dataclass(frozen=True, slots=True)
class ReasonRule:
    """A category of reject or bounce text, matched with a search (not anchored)."""

    name: str
    kind: str
    regex: str
    examples: tuple[str, ...] = field(default=())


def configured_reasons(patterns: Mapping[str, Sequence[str]]) -> tuple[ReasonRule, ...]:
    """``ReasonRule``s from a config table of kind = [regex, ...] (``config_<kind>_<n>``)."""
    return tuple(
        ReasonRule(f"config_{kind}_{i}", kind, pattern)
        for kind, regexes in sorted(patterns.items())
        for i, pattern in enumerate(regexes)
    )


# What a rule of the config may say a line is: the events an admin's local shapes need.
CONFIGURABLE_EVENTS = (
    s.EV_REJECT,
    s.EV_SASL_FAIL,
    s.EV_LOST,
    s.EV_PROTOCOL,
    s.EV_WARN,
    s.EV_INFO,
    s.EV_CONNECT,
    s.EV_DISCONNECT,
)


def configured_rules(rules: Sequence[Mapping[str, object]]) -> tuple[Rule, ...]:
    """``Rule``s from the config's ``[[rules]]`` (``config_<name>``), checked as the built-in
    ones are: a known event, named groups that are event fields, an example that matches.
    Raises ConfigError naming the rule."""
    import pyarrow as pa
    import pyarrow.compute as pc

    built = []
    for raw in rules:
        name = f"config_{raw['name']}"
        regex = str(raw["regex"])
        if raw["event"] not in CONFIGURABLE_EVENTS:
            raise ConfigError(
                f"rules.{raw['name']}: event {raw['event']!r} is not one of "
                f"{', '.join(CONFIGURABLE_EVENTS)}"
            )
        if not (regex.startswith("^") and regex.endswith("$")):
            raise ConfigError(f"rules.{raw['name']}: the regex must be anchored: ^...$")
        rule = Rule(name, tuple(raw["daemons"]), str(raw["event"]), regex, (str(raw["example"]),))
        unknown = sorted(set(rule.groups) - set(s.EVENT_FIELDS))
        if unknown:
            raise ConfigError(
                f"rules.{raw['name']}: unknown group {unknown[0]!r} (groups name event fields: "
                f"{', '.join(s.EVENT_FIELDS)})"
            )
        if not pc.match_substring_regex(pa.array(rule.examples), regex)[0].as_py():
            raise ConfigError(f"rules.{raw['name']}: the example does not match the regex")
        built.append(rule)
    return tuple(built)
