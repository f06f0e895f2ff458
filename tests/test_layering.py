"""The tree shows the pipeline: stages import only down the pipeline, no module imports one that
imports it back, and only named rooms touch the outside world (files, processes, the network,
the terminal, the web)."""

from __future__ import annotations

import ast
from pathlib import Path

ANALYZER = Path(__file__).resolve().parent.parent / "analyzer"

# Down the pipeline: a module imports its own stage and the ones before it, never one after.
STAGES = (
    ("errors", "schema", "settings"),  # what every stage reads
    ("reading",),  # log files -> events
    ("sessions",),  # events -> sessions, messages
    ("judgements",),  # sessions -> customers, classes, rollups, readiness, offenders, risk
    ("store",),  # ingest into Parquet, read back by day
    ("outputs",),  # exports, the mail, the starter files
    ("jobs", "watch", "cli_options", "cli_alerts", "cli", "__main__", "__init__"),  # commands
)
# Stages that only turn frames into frames: no file, process or network work at all.
PURE = ("sessions", "judgements")
# The rooms of a pure stage that read a file beside their pure part, and the live DNSBL.
PURE_EXCEPT = {"judgements/customers.py", "judgements/asn.py", "judgements/dnsbl.py"}
OUTSIDE = ("os", "pathlib", "io", "shutil", "tempfile", "subprocess", "socket", "gzip", "json")
# Libraries of the outside world, and the only modules that may import them.
ONLY_IN = {
    "click": {"cli.py", "cli_options.py", "cli_alerts.py", "__main__.py"},
    "dash": {"cli.py"},  # `serve` starts the dashboard
    "flask": set(),
    "requests": set(),
    "smtplib": {"outputs/mailer.py"},
    "ssl": {"outputs/mailer.py"},
    "dns": {"judgements/dnsbl.py"},
    "socket": {"reading/sources.py"},  # this host's name, the default server name
    "subprocess": {"reading/sources.py", "judgements/asn.py"},  # journalctl, location dump
}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in ANALYZER.rglob("*.py"):
        parts = path.relative_to(ANALYZER.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names) of every import in ``path``, at its top and inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, tuple(alias.name for alias in node.names)))
    return found


def analyzer_imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's own modules ``path`` imports (``from analyzer.x import y`` is ``y`` when
    ``y`` is a module, else ``x``)."""
    found = set()
    for module, names in imports(path):
        if module.split(".")[0] != "analyzer":
            continue
        submodules = {f"{module}.{n}" for n in names} & known.keys()
        found |= submodules or ({module} if module in known else set())
        if names and len(submodules) < len(names) and module in known:
            found.add(module)  # names that are not modules come from the module itself
    return found - {"analyzer"}


def stage(name: str) -> int:
    first = name.split(".")[1] if "." in name else "__init__"
    matches = [rank for rank, rooms in enumerate(STAGES) if first in rooms]
    assert matches, f"{name} is in no stage: add its room to STAGES"
    return matches[0]


def room(path: Path) -> str:
    return path.relative_to(ANALYZER).as_posix()


def upward_imports(known: dict[str, Path]) -> list[str]:
    return [
        f"{name} ({STAGES[stage(name)][0]}) imports {other} ({STAGES[stage(other)][0]})"
        for name, path in sorted(known.items())
        for other in sorted(analyzer_imports(path, known))
        if stage(other) > stage(name)
    ]


def import_cycle(known: dict[str, Path]) -> list[str]:
    """A cycle of imports (its modules, the first repeated at the end), or none."""
    graph = {name: analyzer_imports(path, known) - {name} for name, path in known.items()}
    # a package's __init__ runs before its modules: importing it is not a cycle's edge
    graph = {n: {o for o in e if not n.startswith(o + ".")} for n, e in graph.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> list[str]:
        if name in trail:
            return [*trail[trail.index(name) :], name]
        if name in done:
            return []
        for other in sorted(graph[name]):
            if cycle := visit(other, [*trail, name]):
                return cycle
        done.add(name)
        return []

    return next((c for c in (visit(name, []) for name in sorted(graph)) if c), [])


def test_every_module_imports_only_down_the_pipeline():
    known = modules()
    assert len(known) > 40
    assert not upward_imports(known), "\n".join(upward_imports(known))


def test_no_import_cycle():
    assert import_cycle(modules()) == []


def test_the_checks_see_an_upward_import_and_a_cycle(tmp_path, monkeypatch):
    """The checks above on a made-up package: they can fail."""
    package = tmp_path / "analyzer"
    for folder in ("reading", "store"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "reading" / "a.py").write_text("from analyzer.store import b\n")
    (package / "store" / "b.py").write_text("def f():\n    from analyzer.reading.a import g\n")
    monkeypatch.setattr(f"{__name__}.ANALYZER", package)
    known = modules()
    assert upward_imports(known) == [
        "analyzer.reading.a (reading) imports analyzer.store.b (store)"
    ]
    assert import_cycle(known) == ["analyzer.reading.a", "analyzer.store.b", "analyzer.reading.a"]


def test_pure_stages_do_no_file_process_or_network_work():
    for path in ANALYZER.rglob("*.py"):
        if path.relative_to(ANALYZER).parts[0] not in PURE or room(path) in PURE_EXCEPT:
            continue
        bad = {m for m, _ in imports(path) if m.split(".")[0] in OUTSIDE}
        assert not bad, f"{room(path)} imports {sorted(bad)}: keep the stage pure"


def test_outside_world_libraries_only_in_their_rooms():
    for path in ANALYZER.rglob("*.py"):
        for module, _ in imports(path):
            allowed = ONLY_IN.get(module.split(".")[0])
            assert allowed is None or room(path) in allowed, f"{room(path)} imports {module}"


def test_every_stage_says_what_enters_and_what_leaves():
    for rooms in STAGES:
        for name in rooms:
            package = ANALYZER / name / "__init__.py"
            if package.is_file():
                doc = ast.get_docstring(ast.parse(package.read_text())) or ""
                assert "In:" in doc and "Out:" in doc, f"{name}/__init__.py: say what enters/leaves"


def test_no_module_is_too_long():
    for path in ANALYZER.rglob("*.py"):
        assert len(path.read_text().splitlines()) < 650, f"{path.name}: split it"
