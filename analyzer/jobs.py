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
from analyzer.io.sources import expand_logs, label_sources, read_logs
from analyzer.parse import StampOptions, detect_formats, parse_lines
from analyzer.pipeline import Analysis, analyse, reject_reasons

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
    paths: Sequence[Path],
    settings: Settings,
    progress: Progress | None = None,
    log_format: str = "auto",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read log files (reporting each to ``progress``) into lines and sources frames; each
    source is labelled with its format (detected, or ``log_format``) and, for Exim
    mainlogs, its server."""
    frames, metas = [], []
    for offset, path in enumerate(paths):
        if progress is not None:
            progress(path)
        lines, sources = read_logs([path])
        frames.append(lines.assign(source=lines["source"] + offset))
        metas.append(sources.assign(source=sources["source"] + offset))
    lines = pd.concat(frames, ignore_index=True)
    sources = pd.concat(metas, ignore_index=True)
    if log_format == "auto":
        formats = detect_formats(lines)
    else:
        formats = dict.fromkeys(sources["source"], log_format)
    labelled = label_sources(sources, formats, settings.server_log_globs(), settings.base_dir)
    return lines, labelled


def analyse_logs(
    settings: Settings,
    logs: Sequence[str] = (),
    progress: Progress | None = None,
    log_format: str = "auto",
) -> Analysis:
    """Read the logs and customers the settings name and run the whole pipeline."""
    customers = read_customers(settings.customers)
    paths = log_paths(settings, logs)
    lines, sources = read_inputs(paths, settings, progress, log_format)
    analysis = analyse(lines, sources, customers, settings)
    logger.info("%d lines, %d sessions", len(lines), len(analysis.sessions))
    return analysis


def check_patterns(
    settings: Settings,
    logs: Sequence[str],
    progress: Progress | None = None,
    log_format: str = "auto",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.DataFrame]:
    """For ``patterns check``: every line with its rule (text kept), per-rule counts, other
    programs' line counts, and the sources."""
    paths = log_paths(settings, logs)
    lines, sources = read_inputs(paths, settings, progress, log_format)
    events = parse_lines(
        lines,
        sources,
        StampOptions(settings.timezone, settings.year),
        keep_all_text=True,
        reject_kinds=reject_reasons(settings),
    )
    return events, rule_counts(events), ignored_programs(events), sources
