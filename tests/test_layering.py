"""Imports go one way: the core never imports click, dash, smtplib or analyzer.io."""

from __future__ import annotations

import ast
from pathlib import Path

ANALYZER = Path(__file__).resolve().parent.parent / "analyzer"
# Modules allowed to touch the outside world: the CLI, whole jobs, and io itself.
EDGE = {
    "cli.py",
    "cli_options.py",
    "jobs.py",
    "ingest.py",
    "ingest_parallel.py",
    "reads.py",
    "stored.py",
    "__main__.py",
}
FORBIDDEN = ("click", "dash", "smtplib", "analyzer.io", "flask", "requests", "socket")


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_modules_stay_pure():
    core = [p for p in ANALYZER.rglob("*.py") if p.name not in EDGE and "io" not in p.parts]
    assert core, "no core modules found"
    for path in core:
        bad = {
            n
            for n in imported_names(path)
            if n.split(".")[0] in FORBIDDEN
            or any(n == f or n.startswith(f + ".") for f in FORBIDDEN)
        }
        assert not bad, f"{path.relative_to(ANALYZER)} imports {sorted(bad)}"


def test_no_module_is_too_long():
    for path in ANALYZER.rglob("*.py"):
        assert len(path.read_text().splitlines()) < 650, f"{path.name}: split it"
