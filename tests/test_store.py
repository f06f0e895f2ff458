"""The Parquet store: parts per day and server, commits by mark, leftovers of killed runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.store import parquet as store
from tests.conftest import as_nobody


def frame(rows: list[tuple[str, str | None, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.TS: pd.to_datetime([ts for ts, _, _ in rows], utc=True),
            s.SERVER: pd.array([server for _, server, _ in rows], dtype="string[pyarrow]"),
            "value": [value for _, _, value in rows],
        }
    )


def test_parts_are_split_by_utc_day_and_server(tmp_path: Path) -> None:
    rows = [
        ("2003-11-21T23:59:59Z", "mail1", 1),
        ("2003-11-22T00:00:00Z", "mail1", 2),  # the next UTC day
        ("2003-11-21T12:00:00Z", "mail/2", 3),  # a name that is no folder name
        ("NaT", None, 4),  # a malformed line: no time, no server
    ]
    written = store.write_table(tmp_path, "rejects", frame(rows), s.TS, store.mark_of(1, 1))
    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.parquet"))
    assert sorted(str(part.path) for part in written) == names
    assert sorted((part.day, part.server) for part in written if part.day) == [
        ("2003-11-21", "server=mail%2F2"),
        ("2003-11-21", "server=mail1"),
        ("2003-11-22", "server=mail1"),
    ]
    assert names == [
        "rejects/day=2003-11-21/server=mail%2F2/000001-000001.parquet",
        "rejects/day=2003-11-21/server=mail1/000001-000001.parquet",
        "rejects/day=2003-11-22/server=mail1/000001-000001.parquet",
        "rejects/day=unknown/server=-/000001-000001.parquet",
    ]


def test_each_row_is_named_the_folder_write_table_puts_it_in(tmp_path: Path) -> None:
    rows = [
        ("2003-11-21T23:59:59Z", "mail1", 1),
        ("2003-11-22T00:00:00Z", "mail1", 2),
        ("2003-11-21T12:00:00Z", "mail/2", 3),
        ("NaT", None, 4),
        ("2003-11-21T01:00:00Z", "mail1", 5),
    ]
    folders = store.part_folders(frame(rows), s.TS)
    assert folders.tolist() == [
        "day=2003-11-21/server=mail1",
        "day=2003-11-22/server=mail1",
        "day=2003-11-21/server=mail%2F2",
        "day=unknown/server=-",
        "day=2003-11-21/server=mail1",
    ]
    written = store.write_table(tmp_path, "rejects", frame(rows), s.TS, store.mark_of(1, 1))
    assert {"/".join(part.path.parts[1:3]) for part in written} == set(folders)
    assert len(store.part_folders(frame(rows).iloc[:0], s.TS)) == 0


def test_only_committed_parts_are_read_and_the_rest_is_removed(tmp_path: Path) -> None:
    one = frame([("2003-11-21T10:00:00Z", "mail1", 1)])
    two = frame([("2003-11-21T11:00:00Z", "mail1", 2)])
    store.write_table(tmp_path, "rejects", one, s.TS, store.mark_of(1, 1))
    store.commit(tmp_path, store.Manifest(committed=store.mark_of(1, 1)))
    store.write_table(tmp_path, "rejects", two, s.TS, store.mark_of(2, 1))  # never committed
    (tmp_path / "rejects" / "half.parquet.tmp").write_bytes(b"PAR1")  # killed mid-write
    manifest = store.load_manifest(tmp_path)
    assert list(store.read_table(tmp_path, "rejects", manifest)["value"]) == [1]
    with store.writing(tmp_path):  # the next ingest starts by clearing what was left
        pass
    assert sorted(p.name for p in tmp_path.rglob("*.parquet*")) == ["000001-000001.parquet"]


def test_a_manifest_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / store.MANIFEST).write_text('{"version": 99}')
    with pytest.raises(store.StoreError, match="newer relaywatch"):
        store.load_manifest(tmp_path)


def test_a_damaged_manifest_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / store.MANIFEST).write_text('{"version": 1, "files": [')
    with pytest.raises(store.StoreError, match="cannot read store manifest"):
        store.load_manifest(tmp_path)


def test_a_store_this_user_may_not_enter_is_one_clear_error(tmp_path: Path) -> None:
    """Root enters every folder: the check runs in a child process that is not root."""
    root = tmp_path / "store"
    root.mkdir()
    store.commit(root, store.Manifest(committed=store.mark_of(1, 1)))
    tmp_path.chmod(0o755)
    root.chmod(0)
    message = as_nobody(lambda: store.exists(root))
    root.chmod(0o755)
    assert message == f"cannot read store {root}: Permission denied"


def test_a_reader_racing_an_ingest_reads_the_newer_carry(tmp_path, monkeypatch) -> None:
    """The reader loads a manifest, the ingest commits and deletes the carry it named."""
    from analyzer.store.parquet import snapshot as _snapshot

    lines = frame([("2003-11-21T10:00:00Z", "mail1", 1)])
    old_carry = store.write_carry(tmp_path, lines, store.mark_of(1, 1))
    store.commit(tmp_path, store.Manifest(committed=store.mark_of(1, 1), carry=old_carry))
    real_load = store.load_manifest
    calls = {"n": 0}

    def load_then_commit(root):
        manifest = real_load(root)
        calls["n"] += 1
        if calls["n"] == 1:  # right after this reader's first look, an ingest commits
            newer = store.write_carry(tmp_path, lines.assign(value=2), store.mark_of(1, 2))
            store.commit(tmp_path, store.Manifest(committed=store.mark_of(1, 2), carry=newer))
            (tmp_path / store.CARRY / old_carry).unlink()
        return manifest

    monkeypatch.setattr(store, "load_manifest", load_then_commit)
    manifest, carry = _snapshot(tmp_path)
    assert manifest.committed == store.mark_of(1, 2)
    assert list(carry["value"]) == [2]


# --- owner-only files, and no link followed (issue 17, E and F) ---------------------------------


def modes(root: Path) -> dict[str, int]:
    """{relative path: permission bits} of the store's folders and files."""
    found = {".": root.stat().st_mode & 0o7777}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = path.lstat().st_mode & 0o7777
    return found


def a_store(root: Path) -> None:
    """A store of one committed part and carry, written with the default mode."""
    with store.writing(root):
        rows = frame([("2003-11-21T10:00:00Z", "mail1", 1)])
        store.write_table(root, "rejects", rows, s.TS, store.mark_of(1, 1))
        carry = store.write_carry(root, rows, store.mark_of(1, 1))
        store.commit(root, store.Manifest(committed=store.mark_of(1, 1), carry=carry))


def test_the_store_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "store"
    a_store(root)
    found = modes(root)
    assert {m for p, m in found.items() if (root / p).is_dir()} == {0o700}
    assert {m for p, m in found.items() if (root / p).is_file()} == {0o600}
    assert "manifest.json" in found and "carry" in found


def test_a_group_mode_is_given_to_everything_in_the_store_at_the_next_ingest(tmp_path: Path):
    root = tmp_path / "store"
    a_store(root)
    (root / "rejects").chmod(0o2755)  # an old store, and a setgid folder for the group
    (root / store.MANIFEST).chmod(0o644)
    with store.writing(root, file_mode=0o640):
        pass
    found = modes(root)
    folders = {p: m for p, m in found.items() if (root / p).is_dir()}
    assert folders.pop("rejects") == 0o2750  # the setgid bit stays: new files get the group
    assert set(folders.values()) == {0o750}
    assert {m for p, m in found.items() if (root / p).is_file()} == {0o640}


@pytest.mark.parametrize("linked", ["carry", "rejects/day=2003-11-21", store.MANIFEST, ".lock"])
def test_a_link_inside_the_store_is_refused_and_nothing_is_deleted(tmp_path: Path, linked: str):
    """The review's finding: with store/carry a link to another folder, an ingest deleted
    that folder's files and wrote its own there."""
    root = tmp_path / "store"
    a_store(root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "precious.parquet"
    victim.write_bytes(b"not the store's")
    (elsewhere / "000009-000001.parquet").write_bytes(b"looks like a part, newer than the mark")
    target = root / linked
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    target.symlink_to(elsewhere if linked in ("carry", "rejects/day=2003-11-21") else victim)
    before = sorted(p.name for p in elsewhere.iterdir())
    with pytest.raises(store.StoreError) as refused:
        try:
            with store.writing(root):
                store.write_carry(root, frame([]), store.mark_of(2, 1))
        finally:  # whatever happened, nothing outside the store changed
            assert sorted(p.name for p in elsewhere.iterdir()) == before
            assert victim.read_bytes() == b"not the store's"
    message = str(refused.value)
    assert "\n" not in message and str(target) in message and "symbolic link" in message


def test_writes_never_follow_a_link_that_appears_during_a_run(tmp_path: Path) -> None:
    root = tmp_path / "store"
    a_store(root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with store.writing(root):
        shutil.rmtree(root / store.CARRY)
        (root / store.CARRY).symlink_to(elsewhere)
        with pytest.raises(store.StoreError, match="symbolic link"):
            store.write_carry(root, frame([("2003-11-21T10:00:00Z", "m", 1)]), "000002-000001")
        with pytest.raises(store.StoreError, match="symbolic link"):
            store.remove_carry(root, "anything.parquet")
    assert list(elsewhere.iterdir()) == []


def test_readers_refuse_a_link_too(tmp_path: Path) -> None:
    root = tmp_path / "store"
    a_store(root)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(root / "rejects" / "day=2003-11-21", elsewhere)
    (root / "rejects" / "day=2003-11-21").symlink_to(elsewhere)
    with pytest.raises(store.StoreError, match="symbolic link"):
        store.read_table(root, "rejects", store.load_manifest(root))
