"""Faults: processes killed mid-write, a full disk, a read-only database, a broken playbook.

The kill tests run the writer in a child process and SIGKILL it at a known point (the child says
where it is on stdout): what was committed must be there, what was not must not, and the
database and its audit chain must verify. The full-disk and read-only tests put the database on
a tiny tmpfs (root only: skipped elsewhere) and also simulate a read-only database with SQLite's
``query_only`` pragma, which works anywhere.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import audit, catalogue
from app.db import connect, scalar, transaction
from tests.conftest import PROJECT, T0, demo_password, make_app


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_when(proc: subprocess.Popen[str], marker: str) -> list[str]:
    """Read the child's lines until ``marker``, then SIGKILL it; return the lines read."""
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.strip())
        if line.strip() == marker:
            break
    else:
        proc.wait(timeout=30)
        raise AssertionError(
            f"child ended before {marker!r}: {proc.stderr.read() if proc.stderr else ''}"
        )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    if proc.stderr is not None:
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return lines


def _consistent(path: str | Path) -> audit.Verification:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    db = connect(path)
    try:
        result = audit.verify(db)
        assert result.ok, result.message()
        return result
    finally:
        db.conn.close()


WRITER = """
import sys, time
from datetime import UTC, datetime
from app import audit
from app.db import connect, transaction
db = connect(sys.argv[1])
now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
for i in range(20):
    with transaction(db):
        seq = audit.append(db, now, "fault.committed", actor="child", details={"i": i})
    print("committed", seq, flush=True)
db.conn.execute("BEGIN IMMEDIATE")
for i in range(5000):
    audit.append(db, now, "fault.uncommitted", actor="child", details={"i": i, "pad": "x" * 200})
print("in-transaction", flush=True)
time.sleep(600)
"""


def test_killed_writer_loses_no_committed_entry(app: Flask) -> None:
    path = app.config["CRISIS_DB"]
    lines = _kill_when(_child(WRITER, path), "in-transaction")
    last_committed = int(lines[-2].split()[1])

    result = _consistent(path)
    assert result.head_seq == last_committed, "every committed record is there, nothing more"
    db = connect(path)
    try:
        assert scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'fault.committed'") == 20
        assert scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'fault.uncommitted'") == 0
        with transaction(db):  # the dead writer's lock is gone: the next writer gets through
            audit.append(db, T0, "fault.after", actor="test")
        assert audit.verify(db).ok
    finally:
        db.conn.close()


IMPORTER = """
import sys, time
from datetime import UTC, datetime
from app import catalogue
from app.db import connect
db = connect(sys.argv[1])
now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)

def features():
    for i in range(20000):
        if i == 10000:
            print("mid-import", flush=True)
            time.sleep(600)
        x, y = 0.3 + i * 1e-6, 49.5
        yield catalogue.PreparedFeature(
            f"DEMO-K{i:05d}", {"type": "Point", "coordinates": [x, y]}, {"n": i}, (x, y, x, y)
        )

catalogue.write_features(db, now, "fault-points", features(), actor="child", file_name="big.json")
"""


def test_killed_import_leaves_the_dataset_as_it_was(app: Flask) -> None:
    path = app.config["CRISIS_DB"]
    db = connect(path)
    spec = {
        "slug": "fault-points",
        "title": "Points (test de panne)",
        "owner": "caux-seine",
        "theme": "reference",
        "geometry_type": "Point",
        "sensitivity": "public",
    }
    catalogue.ensure_dataset(db, T0, spec, actor="test")
    first = [
        catalogue.PreparedFeature(
            f"DEMO-F{i:03d}",
            {"type": "Point", "coordinates": [0.5, 49.5]},
            {"n": i},
            (0.5, 49.5, 0.5, 49.5),
        )
        for i in range(100)
    ]
    done = catalogue.write_features(
        db, T0, "fault-points", first, actor="test", file_name="a.geojson"
    )
    head_before = audit.head(db)
    db.conn.close()

    _kill_when(_child(IMPORTER, path), "mid-import")

    _consistent(path)
    db = connect(path)
    try:
        dataset = catalogue.require_dataset(db, "fault-points")
        assert dataset.revision == done.revision and dataset.feature_count == 100
        assert scalar(db, "SELECT count(*) FROM features WHERE dataset_id = ?", [dataset.id]) == 100
        assert audit.head(db) == head_before
    finally:
        db.conn.close()


BACKUP = """
import sys, time
from app import backup

def stuck(tmp, final):
    print("publishing", flush=True)
    time.sleep(600)

backup._publish = stuck
backup.backup(sys.argv[1], sys.argv[2])
"""


def test_killed_backup_leaves_no_partial_backup(app: Flask, tmp_path: Path) -> None:
    path = app.config["CRISIS_DB"]
    dest = tmp_path / "out" / "backup.db"
    _kill_when(_child(BACKUP, path, str(dest)), "publishing")
    assert not dest.exists(), "a killed backup never leaves a file under the final name"
    _consistent(path)
    from app import backup

    made = backup.backup(path, dest)  # the next run works (and ignores the stale temporary)
    assert backup.check(made.path)[0] == made.audit_seq


# --- a full disk, a read-only database ----------------------------------------------------


def _storage_error_page(response: Any, codes: tuple[int, ...], words: str) -> None:
    """A clear French page with a storage-specific status, not a crash or a generic 500."""
    body = response.get_data(as_text=True)
    assert response.status_code in codes, body[:300]
    assert "<html" in body.lower() and "Traceback" not in body
    assert words in body


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs (root only), unmounted at the end."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _app_on(fs: Path, tmp_path: Path, base_template: Path) -> Flask:
    app = make_app(tmp_path, base_template)
    db_path = fs / "crisis.db"
    shutil.copy(app.config["CRISIS_DB"], db_path)
    app.config["CRISIS_DB"] = str(db_path)
    return app


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):  # down to the last byte
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                continue
    return filler


def _full_disk_sign_in(fs: Path, tmp_path: Path, base_template: Path, held: bool) -> None:
    app = _app_on(fs, tmp_path, base_template)
    # In production another process keeps the database open (the scheduler, Litestream), so
    # its -wal and -shm files exist when the disk fills up; `held` reproduces that.
    holder = connect(app.config["CRISIS_DB"]) if held else None
    if holder is not None:
        holder.execute("SELECT count(*) FROM users").fetchone()
    client = app.test_client()
    client.refresh_csrf()  # type: ignore[attr-defined]
    filler = _fill(fs)
    try:
        response = client.post("/login", data={"login": "cell", "password": demo_password("cell")})
        assert response.status_code != 302, "a sign-in cannot succeed without room to record it"
        _storage_error_page(response, (507,), "espace disque")
    finally:
        filler.unlink()
        if holder is not None:
            holder.conn.close()
    _consistent(app.config["CRISIS_DB"])
    client.login("cell")  # type: ignore[attr-defined]  # room again: works without a restart


def test_full_disk_gives_a_clear_error_and_recovers(
    tiny_fs: Path, tmp_path: Path, base_template: Path
) -> None:
    _full_disk_sign_in(tiny_fs, tmp_path, base_template, held=True)


def test_full_disk_with_the_database_idle(
    tiny_fs: Path, tmp_path: Path, base_template: Path
) -> None:
    _full_disk_sign_in(tiny_fs, tmp_path, base_template, held=False)


def test_read_only_filesystem_gives_a_clear_error_and_recovers(
    tiny_fs: Path, tmp_path: Path, base_template: Path
) -> None:
    app = _app_on(tiny_fs, tmp_path, base_template)
    client = app.test_client()
    client.refresh_csrf()  # type: ignore[attr-defined]
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    try:
        response = client.post("/login", data={"login": "cell", "password": demo_password("cell")})
        assert response.status_code != 302
        _storage_error_page(response, (503,), "lecture seule")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)
    _consistent(app.config["CRISIS_DB"])
    client.login("cell")  # type: ignore[attr-defined]


def test_read_only_database_gives_a_clear_error(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same without root: every connection of the app refuses writes (SQLITE_READONLY)."""
    from app import db as db_module
    from app.web import context

    def read_only(path: str, **kwargs: Any) -> Any:
        db = connect(path, **kwargs)
        db.conn.execute("PRAGMA query_only = 1")
        return db

    client = app.test_client()
    client.refresh_csrf()  # type: ignore[attr-defined]
    monkeypatch.setattr(db_module, "connect", read_only)
    with app.app_context():
        context.pool().close()  # the app's next connections are read-only ones
    response = client.post("/login", data={"login": "cell", "password": demo_password("cell")})
    assert response.status_code != 302
    _storage_error_page(response, (503,), "lecture seule")
    monkeypatch.undo()
    with app.app_context():
        context.pool().close()  # the database is writable again
    _consistent(app.config["CRISIS_DB"])
    client.login("cell")  # type: ignore[attr-defined]


# --- a broken playbook ------------------------------------------------------------------


def test_a_corrupt_playbook_does_not_stop_the_others(tmp_path: Path, base_template: Path) -> None:
    books = tmp_path / "playbooks"
    shutil.copytree(PROJECT / "playbooks", books)
    good = sorted(p.stem for p in books.glob("*.yaml"))
    (books / "zz-broken-yaml.yaml").write_text("id: broken\ntitle: [unclosed\n  - : :\n")
    (books / "aa-wrong-keys.yaml").write_text("id: wrong\ntitle: 12\nzones: nope\n")
    (books / "mm-binary.yaml").write_bytes(b"\xff\xfe\x00garbage\x00")

    app = make_app(tmp_path, base_template, CRISIS_PLAYBOOKS=str(books))
    library = app.extensions["library"]  # the app's one playbook library (never skipped)
    assert len(library.playbooks) == len(good)
    errors = library.errors
    named = {Path(str(getattr(e, "path", e))).name for e in errors} | {str(e) for e in errors}
    for broken in ("zz-broken-yaml.yaml", "aa-wrong-keys.yaml", "mm-binary.yaml"):
        assert any(broken in n for n in named), (broken, named)

    client = app.test_client()
    client.login("director")  # type: ignore[attr-defined]
    page = client.get("/events/new")
    assert page.status_code == 200
