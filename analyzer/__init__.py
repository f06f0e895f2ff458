"""relaywatch's analyzer: Postfix logs -> classified SMTP sessions (pure pandas core)."""

from __future__ import annotations

import logging
import os
import sys

__version__ = "0.1.0"

# Arrow's default pool (mimalloc) keeps the memory it freed, so a command's RSS stays at its
# largest read's size: measured on a 12 M-line store, `export sessions` peaked at 490 MB on
# mimalloc against 285 MB on malloc, `report` at 1.0 GB against 0.8 GB. Every command but
# `ingest` (20 % faster on mimalloc, its chunks of one size reuse what they free) has Arrow
# allocate from malloc, which the dashboard also trims after each request
# (dashboard/memory.py). Chosen here, before pyarrow loads.
if next((a for a in sys.argv[1:] if not a.startswith("-")), None) != "ingest":
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from analyzer.errors import AnalyzerError, ConfigError, InputError, ParseError  # noqa: E402
from analyzer.judgements.classify import assign_period, classify_sessions  # noqa: E402
from analyzer.judgements.customers import attribute_customers, check_customers  # noqa: E402
from analyzer.judgements.pipeline import Analysis, analyse  # noqa: E402
from analyzer.outputs.exports import sessions_to_csv  # noqa: E402
from analyzer.reading.parse import StampOptions, parse_lines  # noqa: E402
from analyzer.sessions.build import build_sessions  # noqa: E402
from analyzer.settings.config import Settings, load_settings  # noqa: E402

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
