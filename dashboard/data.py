"""The dashboard's data: loaded once when the app is created, never at import.

The loaded ``DashboardData`` hangs off the Flask app (``server.config``), so there is no
module-level state and two apps in one process (tests) never share data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import flask
import pandas as pd

from analyzer import jobs
from analyzer import schema as s
from analyzer.config import Settings

CONFIG_KEY = "relaywatch.data"
DAY = "day"
SESSIONS = "sessions"


@dataclass(frozen=True, slots=True)
class DashboardData:
    """What every page reads: the settings and the classified sessions."""

    settings: Settings
    sessions: pd.DataFrame


def load_data(settings: Settings, progress: Callable[[Path], None] | None = None) -> DashboardData:
    """Parse the configured logs (the store comes with the ingest issue)."""
    analysis = jobs.analyse_logs(settings, progress=progress)
    return DashboardData(settings=settings, sessions=analysis.sessions)


def current() -> DashboardData:
    """The data of the app serving this request."""
    return flask.current_app.config[CONFIG_KEY]


def daily_class_counts(sessions: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Sessions per local day and class: ``day`` (date), ``class``, ``sessions``; every class
    appears on every day (zeros included) so stacked bars line up."""
    if sessions.empty:
        return pd.DataFrame(
            {
                DAY: pd.Series(dtype="datetime64[ns]"),
                s.CLASS: pd.Series(dtype="string"),
                SESSIONS: pd.Series(dtype="int64"),
            }
        )
    day = sessions[s.START].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    counts = pd.crosstab(day.rename(DAY), sessions[s.CLASS]).reindex(
        columns=list(s.CLASSES), fill_value=0
    )
    full = pd.date_range(counts.index.min(), counts.index.max(), freq="D", name=DAY)
    counts = counts.reindex(full, fill_value=0)
    return counts.stack().rename(SESSIONS).reset_index().rename(columns={"level_1": s.CLASS})
