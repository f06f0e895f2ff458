"""The documentation is true and self-contained.

Every command has help ending in an example and is in the README; every config key the code
accepts is documented with its real default; every export's documented columns are the header
the code writes; no document refers to one outside the repository; every default the README
or docs/ states for an option or a key is the code's.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.jobs import EXPORT_KINDS
from analyzer.schema import REASONS
from analyzer.settings import config

ROOT = Path(__file__).resolve().parent.parent
README_PATH = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIG_DOC = DOCS / "configuration.md"
EXPORTS_DOC = DOCS / "exports.md"
README = README_PATH.read_text(encoding="utf-8")


def commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))


ALL = list(commands(cli))
LEAVES = {path: command for path, command in ALL if not isinstance(command, click.Group)}


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_command_has_help_with_an_example_and_is_in_the_readme(path, command):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert f"relaywatch {' '.join(path)}" in README


# --- reading Markdown ---------------------------------------------------------------------------


def documents() -> list[Path]:
    """The README and every page under docs/."""
    return [README_PATH, *sorted(DOCS.rglob("*.md"))]


def fenced_blocks(text: str, language: str) -> Iterator[tuple[str, str]]:
    """(the paragraph just before the fence, the block's text) of each ```language block."""
    pattern = re.compile(rf"^```{language}\n(.*?)^```$", re.MULTILINE | re.DOTALL)
    for match in pattern.finditer(text):
        paragraphs = text[: match.start()].strip().split("\n\n")
        yield " ".join(paragraphs[-1].split()), match.group(1)


def without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)


def split_row(line: str) -> list[str]:
    """The cells of a Markdown table row; a `|` inside backticks stays in its cell."""
    cells, cell, in_code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    cells.append(cell.strip())
    return cells


def tables(text: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """(header cells, rows) of each Markdown table outside code blocks."""
    lines = without_code_blocks(text).splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header = split_row(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            yield header, rows
        else:
            i += 1


def code_of(cell: str) -> str | None:
    """The text of a cell that is exactly one `code` span, else None."""
    match = re.fullmatch(r"`([^`]+)`", cell.strip())
    return match.group(1) if match else None


def toml_value(text: str) -> Any:
    """A TOML literal's value, or raise ValueError when ``text`` is not one."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        raise ValueError(text) from None


def plain(value: Any) -> Any:
    """A settings value as TOML would write it: tuples as lists, paths as strings."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


# --- configuration ------------------------------------------------------------------------------

CONFIG_TEXT = CONFIG_DOC.read_text(encoding="utf-8")


def accepted_keys() -> set[str]:
    """Every key analyzer/settings/config.py accepts, as the docs write it (``dnsbl.zones``,
    ``servers.NAME.logs``); a table of the user's own keys (``bounce_patterns``) as itself."""
    keys = set()
    for key in config._TOP_KEYS:
        if key == "servers":
            keys |= {f"servers.NAME.{sub}" for sub in config._SECTION_KEYS["server"]}
        elif key in config._SECTION_KEYS:
            keys |= {f"{key}.{sub}" for sub in config._SECTION_KEYS[key]}
        else:
            keys.add(key)
    return keys


def documented_defaults() -> dict[str, str]:
    """{key: its default cell} of the key tables in docs/configuration.md."""
    found: dict[str, str] = {}
    for header, rows in tables(CONFIG_TEXT):
        if header[:1] != ["key"]:
            continue
        assert "default" in header, f"a key table without a default column: {header}"
        at = header.index("default")
        for row in rows:
            key = code_of(row[0])
            assert key, f"a key cell that is not one `code` span: {row[0]!r}"
            assert key not in found, f"{key} is documented twice"
            found[key] = row[at]
    return found


DOCUMENTED = documented_defaults()


def is_documented(key: str) -> bool:
    """``key`` has a row, or (a table of the user's own keys) rows below it."""
    return key in DOCUMENTED or any(k.startswith(f"{key}.") for k in DOCUMENTED)


def test_every_config_key_is_documented():
    missing = sorted(k for k in accepted_keys() if not is_documented(k))
    assert not missing, f"config keys missing from docs/configuration.md: {missing}"


def test_every_documented_key_is_accepted():
    accepted = accepted_keys()
    stale = sorted(
        key
        for key in DOCUMENTED
        if key not in accepted and not any(key.startswith(f"{k}.") for k in accepted)
    )
    assert not stale, f"docs/configuration.md documents keys the code refuses: {stale}"


NO_DEFAULT = object()
ATTRIBUTE = {"mail.from": "from_addr"}  # TOML key -> dataclass field, where they differ


def effective_default(key: str) -> Any:
    """What a run gets when ``key`` is absent from the file (an empty file's settings)."""
    settings = config.settings_from_mapping({}, None)
    parts = key.split(".")
    if parts[0] == "servers":
        server = config.settings_from_mapping({"servers": {"x": {}}}, None).servers["x"]
        return getattr(server, parts[2])
    if parts[0] == "rules":  # every key of a [[rules]] entry is required: no default
        return NO_DEFAULT
    if len(parts) == 1:
        return getattr(settings, key)
    section = getattr(settings, parts[0])
    if isinstance(section, dict):
        return NO_DEFAULT if parts[1].isupper() else section.get(parts[1], ())
    return getattr(section, ATTRIBUTE.get(key, parts[1]))


@pytest.mark.parametrize("key", sorted(DOCUMENTED))
def test_documented_default_is_the_codes(key):
    cell = DOCUMENTED[key]
    actual = effective_default(key)
    if actual is NO_DEFAULT:
        return
    literal = code_of(cell)
    try:
        value = toml_value(literal) if literal is not None else NO_DEFAULT
    except ValueError:
        value = NO_DEFAULT
    if value is not NO_DEFAULT:
        assert value == plain(actual), f"{key}: docs say {cell}, the code's default is {actual!r}"
    elif key == "timezone":
        assert "machine" in cell, f"{key}: docs say {cell!r}"  # checked by the next test
    else:
        assert actual is None, (
            f"{key}: docs say {cell!r} (not a TOML value), the code's default is {actual!r}"
        )


def test_the_timezone_default_is_this_machines(monkeypatch):
    """docs/configuration.md: with no `timezone`, this machine's zone ($TZ first)."""
    monkeypatch.setenv("TZ", "Pacific/Chatham")
    assert config.settings_from_mapping({}, None).timezone == "Pacific/Chatham"


def key_paths(data: dict[str, Any], prefix: str = "") -> set[str]:
    """Keys of a parsed TOML document as the docs write them."""
    paths = set()
    for key, value in data.items():
        if prefix == "" and key == "servers":
            for table in value.values():
                paths |= {f"servers.NAME.{sub}" for sub in table}
        elif prefix == "" and key == "rules":  # an array of tables
            for table in value:
                paths |= {f"rules.{sub}" for sub in table}
        elif prefix == "" and isinstance(value, dict):
            paths |= key_paths(value, f"{key}.")
        elif prefix == "bounce_patterns.":
            paths.add("bounce_patterns")
        elif prefix == "dashboard.users.":
            paths.add("dashboard.users")
        else:
            paths.add(f"{prefix}{key}")
    return paths


def toml_examples(text: str) -> list[str]:
    return [block for _, block in fenced_blocks(text, "toml")]


@pytest.mark.parametrize("document", [CONFIG_DOC, README_PATH], ids=lambda p: p.name)
def test_toml_examples_are_valid_configs(document):
    examples = toml_examples(document.read_text(encoding="utf-8"))
    assert examples
    for example in examples:
        data = tomllib.loads(example)
        config.settings_from_mapping(data, ROOT / "relaywatch.toml")


def test_every_config_key_has_an_example():
    shown = set()
    for example in toml_examples(CONFIG_TEXT):
        shown |= key_paths(tomllib.loads(example))
    missing = sorted(accepted_keys() - shown)
    assert not missing, f"docs/configuration.md has no example of {missing}"


def environment_overrides() -> set[str]:
    """Every RELAYWATCH_* variable that analyzer.settings.config applies over the file."""
    names = set()
    for key in config._TOP_KEYS:
        name = f"RELAYWATCH_{key.upper()}"
        if key in config._apply_env({}, {name: "x"}):
            names.add(name)
    for section, keys in config._SECTION_KEYS.items():
        for key in keys:
            name = f"RELAYWATCH_{section.upper()}_{key.upper()}"
            if key in config._apply_env({}, {name: "x"}).get(section, {}):
                names.add(name)
    return names


def test_environment_overrides_are_documented_exactly():
    named = {n for n in re.findall(r"RELAYWATCH_[A-Z0-9_]*[A-Z0-9]", CONFIG_TEXT)}
    named -= {config.CONFIG_ENV, config.MailConfig().password_env}
    expected = environment_overrides()
    assert expected - named == set(), "overrides missing from docs/configuration.md"
    assert named - expected == set(), "docs/configuration.md names variables the code ignores"


# --- exports ------------------------------------------------------------------------------------

EXPORTS_TEXT = EXPORTS_DOC.read_text(encoding="utf-8")

LOG = """\
Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from office.acme.example[198.18.0.10]
Nov 21 09:00:01 mail1 postfix/smtpd[100]: NOQUEUE: reject: RCPT from office.acme.example[198.18.0.10]: 554 5.7.1 <x@aol.com>: Relay access denied; from=<a@acme.example> to=<x@aol.com> proto=ESMTP helo=<pc1>
Nov 21 09:00:02 mail1 postfix/smtpd[100]: disconnect from office.acme.example[198.18.0.10]
Nov 21 09:01:00 mail1 postfix/smtpd[101]: connect from unknown[203.0.113.7]
Nov 21 09:01:01 mail1 postfix/smtpd[101]: warning: unknown[203.0.113.7]: SASL LOGIN authentication failed: authentication failure
Nov 21 09:01:02 mail1 postfix/smtpd[101]: disconnect from unknown[203.0.113.7]
Nov 21 09:02:00 mail1 postfix/submission/smtpd[102]: connect from home.example[198.51.100.5]
Nov 21 09:02:01 mail1 postfix/submission/smtpd[102]: 4A1B2C3D: client=home.example[198.51.100.5], sasl_method=PLAIN, sasl_username=acme
Nov 21 09:02:02 mail1 postfix/cleanup[103]: 4A1B2C3D: message-id=<1@acme.example>
Nov 21 09:02:02 mail1 postfix/qmgr[104]: 4A1B2C3D: from=<a@acme.example>, size=100, nrcpt=1 (queue active)
Nov 21 09:02:03 mail1 postfix/smtp[105]: 4A1B2C3D: to=<x@aol.com>, relay=mx.aol.com[64.12.88.1]:25, delay=1, delays=0/0/0/1, dsn=5.7.1, status=bounced (host mx.aol.com[64.12.88.1] said: 554 5.7.1 Client host [192.0.2.10] blocked using zen.spamhaus.org (in reply to RCPT TO command))
Nov 21 09:02:03 mail1 postfix/submission/smtpd[102]: disconnect from home.example[198.51.100.5]
"""  # noqa: E501
CUSTOMERS = """\
customer_id,name,domains,networks,contact_email
acme,Acme,acme.example,198.18.0.0/28,it@acme.example
"""


@pytest.fixture(scope="module")
def run_export(tmp_path_factory):
    """``run_export("export offenders --by network")``: stdout of that command on a small log
    with its own config (never the demo, the store or the DNS)."""
    folder = tmp_path_factory.mktemp("docs")
    (folder / "mail.log").write_text(LOG)
    (folder / "customers.csv").write_text(CUSTOMERS)
    (folder / "relaywatch.toml").write_text(
        'logs = ["mail.log"]\ncustomers = "customers.csv"\nyear = 2003\n'
        'timezone = "America/New_York"\nenforcement_date = "2003-11-21"\n'
        'outbound_ips = ["192.0.2.10"]\nlocal_domains = ["provider.example"]\n'
        '[servers.mail1]\noutbound_ip = "192.0.2.10"\n'
    )
    env = {name: None for name in os.environ if name.startswith("RELAYWATCH_")}
    cache: dict[str, str] = {}

    def run(command: str) -> str:
        if command not in cache:
            args = shlex.split(command)
            args += ["--config", str(folder / "relaywatch.toml")]
            args += [] if "--no-dns" in args else ["--no-dns"]
            result = CliRunner(env=env).invoke(cli, args, catch_exceptions=False)
            assert result.exit_code == 0, f"relaywatch {command}: {result.output}"
            cache[command] = result.stdout
        return cache[command]

    return run


def documented_headers() -> list[tuple[str, str]]:
    """(command, header) for each ```csv block of docs/exports.md named by the line before."""
    found = []
    for before, block in fenced_blocks(EXPORTS_TEXT, "csv"):
        match = re.search(r"`relaywatch (export [^`]+)`", before)
        assert match, f"a csv block without its `relaywatch export …` command: {before!r}"
        found.append((match.group(1).strip(), block.strip()))
    return found


HEADERS = documented_headers()


@pytest.mark.parametrize(("command", "header"), HEADERS, ids=[c for c, _ in HEADERS])
def test_documented_header_is_what_the_export_writes(run_export, command, header):
    assert run_export(command).splitlines()[0] == header


def export_sections() -> dict[str, str]:
    """{kind: its section's text} for the ``## `kind` `` sections of docs/exports.md."""
    parts = re.split(r"^## `([^`]+)`\n", EXPORTS_TEXT, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].split("\n## ", 1)[0] for i in range(1, len(parts), 2)}


SECTIONS = export_sections()


def test_every_export_kind_has_a_section():
    assert list(SECTIONS) == list(EXPORT_KINDS)


@pytest.mark.parametrize("kind", [k for k in EXPORT_KINDS if k != "blocklist"])
def test_column_tables_list_the_header_in_order(run_export, kind):
    section = SECTIONS[kind]
    explained = [
        [code_of(row[0]) for row in rows]
        for header, rows in tables(section)
        if header[0] == "column"
    ]
    assert explained, f"{kind}: no column table"
    header = run_export(f"export {kind}").splitlines()[0].split(",")
    assert explained[0] == header, f"{kind}: the first column table is not the header in order"
    everything = {name for names in explained for name in names}
    for _, block in fenced_blocks(section, "csv"):
        missing = [c for c in block.strip().split(",") if c not in everything]
        assert not missing, f"{kind}: columns without an explanation: {missing}"


def test_every_blocklist_format_is_documented(run_export):
    """Each --format is described (a blocklist's, an accounts' deny list), and the fixed
    lines of each blocklist example are real output."""
    from analyzer.cli_options import BLOCKLIST_FORMATS
    from analyzer.judgements.lockout import DENY_FORMATS

    formats = next(p for p in LEAVES[("export",)].params if p.name == "blocklist_format")
    assert set(formats.type.choices) == {*BLOCKLIST_FORMATS, *DENY_FORMATS}
    section = SECTIONS["blocklist"]
    for fmt in BLOCKLIST_FORMATS:
        assert f"`--format {fmt}`" in section
    for fmt in DENY_FORMATS:
        assert f"`--format {fmt}`" in SECTIONS["accounts"]
    for before, block in fenced_blocks(section, "text"):
        fmt = re.search(r"`--format (\w+)`", before).group(1)
        real = {
            line.strip() for line in run_export(f"export blocklist --format {fmt}").splitlines()
        }
        evidence = re.compile(
            r"# \d+ of \d+ sessions spam probes \([a-z_]+ \d+(, [a-z_]+ \d+)*\); \d+ accepted "
            r"messages; seen \S+Z to \S+Z(; \d+ addresses)?"
        )
        assert any(evidence.fullmatch(line) for line in real), fmt
        for line in block.splitlines():
            if "…" in line or re.search(r"\d+\.\d+\.\d+\.\d+", line):
                continue  # counts and addresses depend on the logs
            if line.strip().startswith("# ") and "sessions spam probes" in line:
                assert evidence.fullmatch(line.strip()), line  # an entry's evidence: its form
                continue
            assert line.strip() in real, f"--format {fmt}: {line!r} is not in the real output"


def test_the_builtin_bounce_providers_are_documented():
    from analyzer.reading.patterns.bounces import BLOCKLIST_BOUNCES

    for provider in dict.fromkeys(rule.kind for rule in BLOCKLIST_BOUNCES):
        assert f"`{provider}`" in SECTIONS["risk"], provider


# --- self-contained, and one value for each default ---------------------------------------------

# The project's internal spec, a sibling folder, an issue tracker: none of them ships.
OUTSIDE = re.compile(r"SPEC|\.\./shared|\b[Ii]ssue #?\d+")


def outside_references(text: str) -> list[str]:
    """The lines that refer to a document outside the repository."""
    return [line.strip() for line in text.splitlines() if OUTSIDE.search(line)]


def named_documents() -> list[Path]:
    """The README, docs/, and the other Markdown files they send readers to
    (``sample_logs/README.md``)."""
    named = {
        ROOT / name
        for document in documents()
        for name in re.findall(r"`([\w./-]+\.md)`", document.read_text(encoding="utf-8"))
        if (ROOT / name).is_file()
    }
    return [*documents(), *sorted(named - set(documents()))]


@pytest.mark.parametrize("document", named_documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_documents_refer_to_nothing_outside_the_repository(document):
    assert outside_references(document.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "path", [(), *(p for p, _ in ALL)], ids=["relaywatch", *(" ".join(p) for p, _ in ALL)]
)
def test_help_refers_to_nothing_outside_the_repository(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert outside_references(result.output) == []


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = without_code_blocks(path.read_text(encoding="utf-8"))
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_inside_the_repository(document):
    text = without_code_blocks(document.read_text(encoding="utf-8"))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        linked = (document.parent / file).resolve() if file else document
        assert linked.is_file(), f"{document.name}: broken link {target}"
        assert ROOT in linked.parents, f"{document.name}: {target} is outside the repository"
        if anchor:
            assert anchor in anchors(linked), f"{document.name}: no heading for {target}"


REPO_PATH = re.compile(
    r"`((?:analyzer|dashboard|contrib|sample_logs|benchmarks|tests|docs)/[^`\s]*)`"
)


def expand_braces(text: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", text)
    if not match:
        return [text]
    return [
        expanded
        for choice in match.group(1).split(",")
        for expanded in expand_braces(text[: match.start()] + choice + text[match.end() :])
    ]


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_files_named_in_the_documents_exist(document):
    for name in REPO_PATH.findall(document.read_text(encoding="utf-8")):
        for path in expand_braces(name):
            assert glob.glob(str(ROOT / path)), f"{document.name}: `{name}` does not exist"


def option_defaults() -> dict[str, set[str]]:
    """{option name: its click defaults} over every command: options with a plain default
    (a string or number; not flags, not unset)."""
    found: dict[str, set[str]] = {}
    for _, command in ALL:
        for param in command.params:
            plain_default = isinstance(param.default, str | int | float) and not isinstance(
                param.default, bool
            )
            if not isinstance(param, click.Option) or param.is_flag or not plain_default:
                continue
            for name in param.opts:
                found.setdefault(name, set()).add(str(param.default))
    return found


STATED_DEFAULT = re.compile(r"`([^`]+)`[^`.;]{0,30}?\bdefault\b:?\s*`?([^`\s,;)]+)")


def stated_defaults() -> Iterator[tuple[str, str, str]]:
    """(document, `name`, value) for each "`NAME` … default VALUE" in prose and table cells."""
    for document in documents():
        text = " ".join(without_code_blocks(document.read_text(encoding="utf-8")).split())
        for name, value in STATED_DEFAULT.findall(text):
            yield document.name, name, value


def same_value(stated: str, documented: str) -> bool:
    try:
        return toml_value(stated) == toml_value(documented)
    except ValueError:
        return stated == documented


def test_stated_defaults_are_the_codes():
    """An option's stated default is its click default; a config key's, its documented one."""
    options = option_defaults()
    wrong = []
    for document, name, value in stated_defaults():
        option = name.split()[0]
        if option.startswith("-"):
            if option in options and value not in options[option]:
                wrong.append(f"{document}: {name} default {value}, click: {options[option]}")
            continue
        key = re.sub(r"^\[([\w.]+)\] ", r"\1.", name)
        candidates = {
            code_of(cell)
            for k, cell in DOCUMENTED.items()
            if k == key or k.rsplit(".", 1)[-1] == key
        }
        if len(candidates) == 1 and None not in candidates:
            (documented,) = candidates
            if not same_value(value, documented):
                wrong.append(f"{document}: {name} default {value}, documented: {documented}")
    assert not wrong


def test_chunk_size_default_is_stated_once_and_right():
    """The README's --chunk-mb default is the click default (and ingest's library default)."""
    from analyzer.store.ingest import CHUNK_BYTES

    (chunk,) = [p for p in LEAVES[("ingest",)].params if p.name == "chunk_mb"]
    stated = {v for d, n, v in stated_defaults() if n.split()[0] == "--chunk-mb"}
    assert stated == {str(chunk.default)}
    assert chunk.default * 2**20 == CHUNK_BYTES


# --- the README's command list ------------------------------------------------------------------


def readme_synopsis() -> dict[tuple[str, ...], str]:
    """{command path: its synopsis text} from the README's command block."""
    section = README.split("## Commands", 1)[1]
    block = next(block for _, block in fenced_blocks(section, "sh"))
    entries: dict[tuple[str, ...], str] = {}
    path: tuple[str, ...] = ()
    for line in block.splitlines():
        line = line.split("#", 1)[0]
        if line.startswith("relaywatch "):
            words = line.split()[1:]
            path = tuple(itertools.takewhile(lambda w: re.fullmatch(r"[a-z][a-z-]*", w), words))
            entries[path] = line
        elif path:
            entries[path] += " " + line
    return entries


def test_readme_command_list_is_the_cli():
    assert sorted(readme_synopsis()) == sorted(LEAVES)


@pytest.mark.parametrize("path", sorted(LEAVES), ids=lambda p: " ".join(p))
def test_readme_synopsis_names_every_option(path):
    synopsis = readme_synopsis().get(path, "")
    named = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", synopsis))
    missing = [
        param.opts[0]
        for param in LEAVES[path].params
        if isinstance(param, click.Option)
        and not param.prompt  # asked for interactively (hash-password's password)
        and not set(param.opts) & named
    ]
    assert not missing, f"README: `relaywatch {' '.join(path)}` lacks {missing}"


def test_readme_classification_table_has_every_class_and_reason():
    for klass, reasons in REASONS.items():
        for reason in reasons:
            assert f"`{klass}` / `{reason}`" in README


def test_ci_runs_the_readmes_test_command_in_a_fresh_virtual_environment():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    command = re.search(r"```sh\n(python3 -m venv .*pytest -n 2)\n```", README).group(1)
    assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
    ran = [line for line in ci.splitlines() if line.startswith("python3 -m venv")]
    assert [line.replace("pip install -q ", "pip install ") for line in ran] == [command]
    assert "rm -rf .venv" in ci  # fresh every run
