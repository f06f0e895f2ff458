"""Every third-party import is declared in pyproject.toml where a fresh install gets it (issue 14).

The scanned files are read with ``ast``, never imported: an import inside a function or a
``try:`` counts like any other, since a fresh ``pip install -e '.[test]'`` must still satisfy it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

try:
    from packaging.requirements import Requirement
except ImportError:  # packaging comes with pytest; the regex below is the fallback
    Requirement = None

ROOT = Path(__file__).resolve().parent.parent
DEPENDENCIES = "dependencies"  # [project] dependencies; any other place is an extra's name

# Where the imports of each scanned directory may be declared, the first place being the one
# a missing distribution should go to.
PLACES = {
    "analyzer": (DEPENDENCIES,),
    "dashboard": (DEPENDENCIES,),
    "tests": ("test", DEPENDENCIES),
    "sample_logs": ("test", DEPENDENCIES),  # tests/test_samples.py runs generate.py
    "benchmarks": ("bench", "test", DEPENDENCIES),
}
OWN = frozenset(PLACES)

# Deliberately optional: `relaywatch ingest --dask` imports dask inside `try: ... except
# ImportError` and tells the user to install relaywatch[dask]; a plain install must not pull a
# cluster in. An import of such a module guarded like that may instead be declared in the
# module's extra; an unguarded one needs the usual place. Module -> extra.
OPTIONAL = {"dask": "dask"}

# Import name -> distribution, used only when packages_distributions() does not know the module
# (its distribution is not installed here); any other unknown module is taken to be its own name.
FALLBACK = {"dns": "dnspython", "yaml": "PyYAML"}

IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


@dataclass(frozen=True)
class Undeclared:
    module: str
    distribution: str
    file: str  # relative to the scanned root
    line: int
    places: tuple[str, ...]

    def __str__(self) -> str:
        first, *others = self.places
        where = "[project] dependencies"
        if first != DEPENDENCIES:
            where = f"[project.optional-dependencies] {first}"
        if others:
            more = (
                "[project] dependencies" if p == DEPENDENCIES else f"the {p} extra" for p in others
            )
            where += f" (or {', or '.join(more)})"
        return (
            f"{self.file}:{self.line} imports {self.module} (distribution {self.distribution!r}), "
            f"which pyproject.toml does not declare: add it to {where}"
        )


def canonical(name: str) -> str:
    """PEP 503: case-insensitive, runs of -, _ and . are equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(text: str) -> tuple[str, set[str]]:
    """The distribution name and extras of a requirement string (no version, no marker)."""
    if Requirement is not None:
        parsed = Requirement(text)
        return canonical(parsed.name), {canonical(e) for e in parsed.extras}
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", text)
    assert match, f"cannot read requirement {text!r}"
    extras = {canonical(e.strip()) for e in (match.group(2) or "").split(",") if e.strip()}
    return canonical(match.group(1)), extras


def declared(pyproject: Path) -> dict[str, set[str]]:
    """Place -> canonical distribution names; an extra naming the project itself
    (``relaywatch[dask]``) includes that extra's distributions."""
    project = tomllib.loads(pyproject.read_text())["project"]
    raw = {DEPENDENCIES: project.get("dependencies", [])}
    raw.update({canonical(k): v for k, v in project.get("optional-dependencies", {}).items()})
    own = canonical(project["name"])

    def names(place: str, seen: frozenset[str]) -> set[str]:
        out = set()
        for text in raw.get(place, []):
            name, extras = requirement(text)
            if name != own:
                out.add(name)
            for extra in extras - seen if name == own else ():
                out |= names(extra, seen | {extra})
        return out

    return {place: names(place, frozenset({place})) for place in raw}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type
    if kinds is None:
        return True
    elts = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
    return any(isinstance(e, ast.Name) and e.id in IMPORT_ERRORS for e in elts)


def imports(tree: ast.AST) -> Iterator[tuple[str, int, bool]]:
    """(top-level module, line, guarded by an ImportError handler) of every absolute import,
    wherever it is: module level, functions, classes, ``try:``, ``if TYPE_CHECKING:``."""

    def visit(node: ast.AST, guarded: bool) -> Iterator[tuple[str, int, bool]]:
        if isinstance(node, ast.Try | ast.TryStar):
            catches = guarded or any(_catches_import_error(h) for h in node.handlers)
            for child in node.body:
                yield from visit(child, catches)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                yield from visit(child, guarded)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.partition(".")[0], node.lineno, guarded
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.partition(".")[0], node.lineno, guarded
        for child in ast.iter_child_nodes(node):
            yield from visit(child, guarded)

    yield from visit(tree, False)


def third_party(root: Path) -> Iterator[tuple[str, Path, int, bool]]:
    """(module, file, line, guarded) of every import under the scanned directories that is not
    the standard library, not this project's packages and not a script's sibling module."""
    for top in sorted(PLACES):
        for path in sorted((root / top).rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            for module, line, guarded in imports(ast.parse(path.read_bytes(), str(path))):
                if module in sys.stdlib_module_names or module in OWN:
                    continue
                # `python benchmarks/bench_floor.py` puts benchmarks/ on sys.path: bench_parse
                sibling = path.parent / module
                if sibling.with_suffix(".py").exists() or (sibling / "__init__.py").exists():
                    continue
                yield module, path, line, guarded


def undeclared_imports(
    root: Path, distributions: Mapping[str, list[str]] | None = None
) -> list[Undeclared]:
    """Every third-party import under ``root`` whose distribution ``root/pyproject.toml`` does
    not declare where that directory's code may rely on it (see PLACES and OPTIONAL)."""
    if distributions is None:
        distributions = packages_distributions()
    places = declared(root / "pyproject.toml")
    problems, reported = [], set()
    for module, path, line, guarded in third_party(root):
        relative = path.relative_to(root)
        if (module, relative) in reported:  # one line per module and file is enough
            continue
        allowed = PLACES[relative.parts[0]]
        if module in OPTIONAL and guarded:
            allowed = (canonical(OPTIONAL[module]), *allowed)
        candidates = distributions.get(module) or [FALLBACK.get(module, module)]
        names = {canonical(d) for d in candidates}
        if any(names & places.get(place, set()) for place in allowed):
            continue
        reported.add((module, relative))
        problems.append(
            Undeclared(module, sorted(candidates)[0], relative.as_posix(), line, allowed)
        )
    return problems


def test_every_third_party_import_is_declared_in_pyproject():
    problems = undeclared_imports(ROOT)
    if problems:
        pytest.fail("\n".join(map(str, problems)), pytrace=False)


def test_the_checker_reports_undeclared_imports(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        """
[project]
name = "relaywatch"
dependencies = ["Click[extra]>=8.1; python_version >= '3.11'", "dnspython>=2.4"]
[project.optional-dependencies]
dask = ["dask[distributed]>=2024.1"]
test = ["relaywatch[dask]", "pytest>=8"]
"""
    )
    files = {
        "analyzer/__init__.py": "",
        "analyzer/a.py": (
            "import os, click\nfrom . import b\nfrom analyzer import c\nimport dns.resolver\n"
            "def f():\n    import undeclared_rw14.sub\n"
            "try:\n    import dask\nexcept ImportError:\n    dask = None\n"
        ),
        "dashboard/d.py": "from pytest import fixture\n",  # only in the test extra
        "tests/test_t.py": (
            "import pytest, dask\ntry:\n    from hypothesis import given\n"
            "except ImportError:\n    given = None\n"
        ),
        "benchmarks/helper.py": "",
        "benchmarks/bench.py": "import helper\n\ndef peak():\n    import psutil\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    distributions = {"click": ["click"], "dask": ["dask"], "pytest": ["pytest"]}

    problems = undeclared_imports(tmp_path, distributions)

    assert {(p.module, p.file, p.line) for p in problems} == {
        ("undeclared_rw14", "analyzer/a.py", 6),
        ("pytest", "dashboard/d.py", 1),
        ("hypothesis", "tests/test_t.py", 3),
        ("psutil", "benchmarks/bench.py", 4),
    }
    message = str(next(p for p in problems if p.module == "hypothesis"))
    assert message == (
        "tests/test_t.py:3 imports hypothesis (distribution 'hypothesis'), which pyproject.toml "
        "does not declare: add it to [project.optional-dependencies] test (or [project] "
        "dependencies)"
    )


def test_the_regex_reads_requirements_like_packaging(monkeypatch):
    texts = [
        "Click[extra]>=8.1; python_version >= '3.11'",
        "dask[distributed, diagnostics]>=2024.1",
        "zope.interface",
        "Foo__Bar ==1.0",
    ]
    expected = [
        ("click", {"extra"}),
        ("dask", {"distributed", "diagnostics"}),
        ("zope-interface", set()),
        ("foo-bar", set()),
    ]
    assert [requirement(t) for t in texts] == expected
    monkeypatch.setitem(globals(), "Requirement", None)
    assert [requirement(t) for t in texts] == expected
