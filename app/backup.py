"""Online backups and checked restores of the console's SQLite database.

``backup`` copies the live database through SQLite's backup API in one step, so the copy is a
consistent snapshot even while the console serves and writes (WAL: readers never block writers).
The copy is written to a temporary file, switched to a self-contained rollback journal, checked,
flushed to disk and only then renamed into place: a backup file either is complete or does not
exist.

``restore`` refuses anything that is not a sound database of this console, with a French message:
a non-SQLite file, a corrupt one (``PRAGMA integrity_check``), a foreign one (no ``crisis-console``
migrations), one written by a newer version, or one whose audit chain does not verify. The
database it replaces is kept as ``<db>.before-restore-<UTC time>``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import audit, schema
from .db import connect

SQLITE_MAGIC = b"SQLite format 3\x00"
BACKUP_PREFIX = "crisis-"
BACKUP_SUFFIX = ".db"


class BackupError(ValueError):
    """A backup or restore refused, with a message for the operator (French)."""


class TamperedError(BackupError):
    """A console database that does not verify: its audit chain, the content it proves or its
    append-only triggers (a failure found, exit 1 — not bad input)."""


@dataclass(frozen=True)
class BackupResult:
    """A backup written: where, how big, and the audit head it contains."""

    path: Path
    size: int
    audit_seq: int
    audit_hash: str


@dataclass(frozen=True)
class RestoreResult:
    """A restore done: the audit head restored, the previous database kept, any warnings."""

    db_path: Path
    previous: Path | None
    audit_seq: int
    audit_hash: str
    pending_migrations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)


def _publish(tmp: Path, final: Path) -> None:
    """The atomic step: the complete, flushed temporary file takes its final name."""
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def _copy(src: sqlite3.Connection, dest: Path) -> None:
    """Copy ``src`` into a new file ``dest`` as one self-contained, checked, flushed file."""
    out = sqlite3.connect(str(dest))
    try:
        # pages=-1: the whole database in one step, under one read transaction: a snapshot.
        src.backup(out, pages=-1)
        out.execute("PRAGMA journal_mode = DELETE")
        problem = _integrity(out)
        if problem:
            raise BackupError(f"la copie n'est pas saine ({problem})")
    finally:
        out.close()
    _fsync(dest)


def _integrity(conn: sqlite3.Connection) -> str:
    """'' when ``PRAGMA integrity_check`` finds nothing, else its first complaint."""
    found = [r[0] for r in conn.execute("PRAGMA integrity_check(5)")]
    return "" if found == ["ok"] else "; ".join(found)


def backup_name(now: datetime | None = None) -> str:
    """The file name of a backup taken at ``now`` (sorts by time)."""
    return f"{BACKUP_PREFIX}{_stamp(now)}{BACKUP_SUFFIX}"


def backup(db_path: str | Path, dest: str | Path, now: datetime | None = None) -> BackupResult:
    """Write a consistent copy of the live database to ``dest`` (a file, or a directory).

    Safe while the console serves: SQLite's backup API reads one snapshot. A directory (one that
    exists, or a path ending with ``/``) gets a time-stamped file name. Never leaves a partial
    file under the final name.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise BackupError(f"base introuvable : {db_path}")
    as_dir = str(dest).endswith(("/", os.sep))
    dest = Path(dest)
    if as_dir:
        dest.mkdir(parents=True, exist_ok=True)
    final = dest / backup_name(now) if dest.is_dir() else dest
    if final.resolve() == db_path.resolve():
        raise BackupError("la sauvegarde ne peut pas remplacer la base elle-même")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    _remove(tmp)
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=15)
    try:
        src.execute("PRAGMA busy_timeout = 15000")
        _copy(src, tmp)
    except sqlite3.Error as exc:
        _remove(tmp)
        raise BackupError(f"sauvegarde impossible : {exc}") from exc
    except BaseException:
        _remove(tmp)
        raise
    finally:
        src.close()
    copy = connect(tmp, readonly=True)
    try:
        seq, digest = audit.head(copy)
    finally:
        copy.conn.close()
    _publish(tmp, final)
    return BackupResult(final, final.stat().st_size, seq, digest)


def prune(directory: str | Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backups named by ``backup_name``; return those deleted."""
    if keep < 1:
        raise BackupError("il faut garder au moins une sauvegarde")
    found = sorted(Path(directory).glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}"))
    old = found[:-keep]
    for path in old:
        path.unlink()
    return old


def check(
    path: str | Path,
    checkpoint: audit.Checkpoint | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> tuple[int, str, list[str], list[str]]:
    """Check that a file is a sound database of this console; raise BackupError otherwise.

    Returns the audit head (seq, hash), the migrations it lacks (an older version: ``init``
    upgrades it) and warnings (e.g. audit records newer than the backup, known from a checkpoint).
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"fichier introuvable : {path}")
    with open(path, "rb") as fh:
        if fh.read(16) != SQLITE_MAGIC:
            raise BackupError(f"{path} n'est pas une base SQLite")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} ne s'ouvre pas : {exc}") from exc
    try:
        try:
            problem = _integrity(conn)
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        if problem:
            raise BackupError(f"{path} est corrompue (integrity_check : {problem})")
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlite_migrations'"
        ).fetchone()
        applied = (
            {
                r[0]
                for r in conn.execute(
                    "SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                    [schema.migrations.name],
                )
            }
            if has_table
            else set()
        )
    finally:
        conn.close()
    if not applied:
        raise BackupError(f"{path} n'est pas une base de la console de crise (schéma inconnu)")
    known = [m.name for m in schema.migrations._migrations]
    unknown = sorted(applied - set(known))
    if unknown:
        raise BackupError(
            f"{path} vient d'une version plus récente de la console (migrations inconnues :"
            f" {', '.join(unknown)}) : mettez d'abord la console à jour"
        )
    pending = [name for name in known if name not in applied]
    db = connect(path, readonly=True)
    try:
        result = audit.verify(db, None, public_key)
        if not result.ok:
            raise TamperedError(f"journal d'audit de {path} invalide : {result.message()}")
        triggers = schema.missing_triggers(db)
        if triggers:
            raise TamperedError(f"{path} a été modifiée hors de la console : {', '.join(triggers)}")
        warnings: list[str] = []
        if checkpoint is not None:
            if checkpoint.seq <= result.head_seq:
                against = audit.verify(db, checkpoint, public_key)
                if not against.ok:
                    raise TamperedError(
                        f"journal d'audit de {path} contredit le point de contrôle signé n°"
                        f" {checkpoint.seq} : {against.message()}"
                    )
            else:
                warnings.append(
                    f"le journal restauré s'arrête au n° {result.head_seq} ; le dernier point de"
                    f" contrôle signé couvre {checkpoint.seq} enregistrements : les n°"
                    f" {result.head_seq + 1} à {checkpoint.seq} sont perdus (conservez le point"
                    " de contrôle comme preuve)"
                )
    finally:
        db.conn.close()
    return result.head_seq, result.head_hash, pending, warnings


def restore(
    src: str | Path,
    db_path: str | Path,
    now: datetime | None = None,
    checkpoint: audit.Checkpoint | None = None,
    public_key: Ed25519PublicKey | None = None,
    *,
    on_progress: Callable[[str], None] | None = None,
) -> RestoreResult:
    """Replace the database at ``db_path`` by the checked copy ``src``; keep the previous one.

    The file is first copied next to the database and checked there (what is checked is what is
    installed). An existing database is saved as ``<db>.before-restore-<time>`` and then
    overwritten through the backup API, so SQLite's locks and WAL stay coherent; stop the console
    first all the same (its in-memory caches would be stale).
    """
    say = on_progress or (lambda _msg: None)
    src, db_path = Path(src), Path(db_path)
    if src.is_file() and db_path.exists() and src.resolve() == db_path.resolve():
        raise BackupError("la source de la restauration est la base elle-même")
    check(src, checkpoint, public_key)  # refuse early, before touching anything
    db_path.parent.mkdir(parents=True, exist_ok=True)
    staged = db_path.with_name(f".{db_path.name}.restore-{os.getpid()}")
    _remove(staged)
    try:
        source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
        try:
            _copy(source, staged)
        finally:
            source.close()
        seq, digest, pending, warnings = check(staged, checkpoint, public_key)
        previous: Path | None = None
        if db_path.exists():
            previous = db_path.with_name(f"{db_path.name}.before-restore-{_stamp(now)}")
            say(f"Base actuelle conservée dans {previous}")
            try:
                backup(db_path, previous)
            except BackupError:
                _raw_copy(db_path, previous)  # a damaged database is kept as it is, as evidence
            try:
                _overwrite(staged, db_path)
            except sqlite3.DatabaseError:
                _remove(db_path)  # too damaged to be written through SQLite: replace the file
                _publish(staged, db_path)
        else:
            _remove(db_path)  # stale -wal/-shm of a lost database must not be replayed
            _publish(staged, db_path)
        live = connect(db_path)
        try:
            if audit.head(live) != (seq, digest) or not audit.verify(live, None, public_key).ok:
                raise BackupError("la base restaurée ne vérifie pas : base précédente remise")
        except BackupError:
            live.conn.close()
            if previous is not None:
                _overwrite(previous, db_path)
            raise
        live.conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"restauration impossible : {exc}") from exc
    finally:
        _remove(staged)
    return RestoreResult(db_path, previous, seq, digest, pending, warnings)


def _raw_copy(db_path: Path, dest: Path) -> None:
    """Copy the database file and its -wal byte for byte (when SQLite cannot read it)."""
    import shutil

    shutil.copy2(db_path, dest)
    wal = Path(f"{db_path}-wal")
    if wal.exists():
        shutil.copy2(wal, Path(f"{dest}-wal"))


def _overwrite(src: Path, db_path: Path) -> None:
    """Copy ``src`` over the live database through the backup API (WAL and locks respected)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = connect(db_path)
    try:
        source.backup(target.conn, pages=-1)
    finally:
        target.conn.close()
        source.close()
