"""Whole jobs that read inputs and run the pipeline: what the CLI and the dashboard call.

This is the one layer (besides ``analyzer.io``) that touches files; the logic stays in the
pure modules it calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from analyzer.config import Settings
from analyzer.coverage import ignored_programs, rule_counts
from analyzer.errors import InputError
from analyzer.io.customers import read_customers
from analyzer.io.sources import expand_logs, read_logs
from analyzer.parse import StampOptions, parse_lines
from analyzer.pipeline import Analysis, analyse

logger = logging.getLogger(__name__)

Progress = Callable[[Path], None]


def log_paths(settings: Settings, logs: Sequence[str] = ()) -> list[Path]:
    """Files named on the command line, else the configured globs."""
    if logs:
        return expand_logs(logs)
    if not settings.logs:
        raise InputError("no logs given: name LOG files or set `logs` in the config")
    return expand_logs(settings.logs, settings.base_dir)


def read_inputs(
    paths: Sequence[Path], progress: Progress | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read log files (reporting each to ``progress``) into lines and sources frames."""
    frames, metas = [], []
    for offset, path in enumerate(paths):
        if progress is not None:
            progress(path)
        lines, sources = read_logs([path])
        frames.append(lines.assign(source=lines["source"] + offset))
        metas.append(sources.assign(source=sources["source"] + offset))
    return pd.concat(frames, ignore_index=True), pd.concat(metas, ignore_index=True)


def analyse_logs(
    settings: Settings, logs: Sequence[str] = (), progress: Progress | None = None
) -> Analysis:
    """Read the logs and customers the settings name and run the whole pipeline."""
    customers = read_customers(settings.customers)
    paths = log_paths(settings, logs)
    lines, sources = read_inputs(paths, progress)
    analysis = analyse(lines, sources, customers, settings)
    logger.info("%d lines, %d sessions", len(lines), len(analysis.sessions))
    return analysis


def check_patterns(
    settings: Settings, logs: Sequence[str], progress: Progress | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.DataFrame]:
    """For ``patterns check``: every line with its rule (text kept), per-rule counts, other
    programs' line counts, and the sources."""
    paths = log_paths(settings, logs)
    lines, sources = read_inputs(paths, progress)
    events = parse_lines(
        lines, sources, StampOptions(settings.timezone, settings.year), keep_all_text=True
    )
    return events, rule_counts(events), ignored_programs(events), sources
