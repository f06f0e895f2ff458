"""relaywatch's analyzer: Postfix logs -> classified SMTP sessions (pure pandas core)."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

from analyzer.classify import assign_period, classify_sessions  # noqa: E402
from analyzer.config import Settings, load_settings  # noqa: E402
from analyzer.customers import attribute_customers, check_customers  # noqa: E402
from analyzer.errors import AnalyzerError, ConfigError, InputError, ParseError  # noqa: E402
from analyzer.exports import sessions_to_csv  # noqa: E402
from analyzer.parse import StampOptions, parse_lines  # noqa: E402
from analyzer.pipeline import Analysis, analyse  # noqa: E402
from analyzer.sessions import build_sessions  # noqa: E402

__all__ = [
    "Analysis",
    "AnalyzerError",
    "ConfigError",
    "InputError",
    "ParseError",
    "Settings",
    "StampOptions",
    "__version__",
    "analyse",
    "assign_period",
    "attribute_customers",
    "build_sessions",
    "check_customers",
    "classify_sessions",
    "load_settings",
    "parse_lines",
    "sessions_to_csv",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
