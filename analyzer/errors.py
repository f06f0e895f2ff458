"""One exception tree for everything the analyzer raises on purpose.

The CLI turns an ``AnalyzerError`` into one line on stderr and exit status 2: these are
user mistakes (a missing file, a bad date, a bad CIDR) or bad input, never bugs.
"""

from __future__ import annotations


class AnalyzerError(Exception):
    """Base of every error relaywatch reports to its user."""


class ConfigError(AnalyzerError):
    """A setting is missing, malformed or names something that is not there."""


class InputError(AnalyzerError):
    """A log or data file cannot be found, read or understood."""


class ParseError(AnalyzerError):
    """A log cannot be parsed at all (single bad lines never raise: they are counted)."""
