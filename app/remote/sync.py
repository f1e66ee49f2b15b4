"""The synced copy of datasets kept by their owners, refreshed by an idempotent sweep.

:func:`register` records a dataset's ``remote:`` block (from the catalogue) in
``remote_sources``. :func:`sweep` ``(db, now)`` syncs every source that is due: the whole
collection (within the territory's extent, the catalogue's fields only) is fetched page by page
into a temporary GeoJSON file and imported through :func:`app.imports.import_file` (the same
validation as any import) replacing the copy, in ONE transaction with the source's new state and
its audit record. A failed sync (server down, junk, a refused feature) changes nothing in the
copy: the failure is recorded (state + ``dataset.sync_failed`` audit record) and retried with a
backoff (5 min, 10, 20… up to the sync interval). An unchanged collection (same checksum) is
recorded as synced without a new revision.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from .. import audit, catalogue, fr, imports
from ..clock import iso, local, parse_iso
from ..db import dumps, row, rows, transaction
from .client import SYNC, Limits, RemoteError, Request, fetch
from .spec import Credentials, RemoteConfigError, RemoteSpec, default_credentials

log = logging.getLogger(__name__)

RETRY_FIRST = timedelta(minutes=5)


@dataclass(frozen=True)
class Source:
    """A dataset kept by its owner and the state of its synced copy."""

    slug: str
    dataset_id: int
    owner_name: str
    spec: RemoteSpec
    registered_at: str
    last_attempt_at: str | None
    last_success_at: str | None
    last_revision: int | None
    last_checksum: str | None
    last_count: int | None
    last_error: str | None
    last_error_at: str | None
    failures: int
    next_sync_at: str | None

    @property
    def has_copy(self) -> bool:
        return self.last_success_at is not None

    def copy_age(self, now: datetime) -> str:
        """'il y a 3 h 05' — the age of the last good copy."""
        if self.last_success_at is None:
            return ""
        return age_label(now - parse_iso(self.last_success_at))

    def copy_label(self) -> str:
        """'copie du 28/11 à 03:00' (Paris time)."""
        if self.last_success_at is None:
            return "aucune copie synchronisée"
        return f"copie du {local(self.last_success_at, '%d/%m à %H:%M')}"

    @property
    def failing(self) -> bool:
        """The last attempt failed (the copy, if any, is older than the last attempt)."""
        return self.failures > 0


def age_label(delta: timedelta) -> str:
    """A duration as the cell says it: 'il y a 4 min', 'il y a 3 h 05', 'il y a 2 j'."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 1:
        return "à l'instant"
    if minutes < 60:
        return f"il y a {minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"il y a {hours} h {rest:02d}"
    return f"il y a {hours // 24} j"


_SQL = (
    "SELECT r.*, d.slug, o.name AS owner_name FROM remote_sources r"
    " JOIN datasets d ON d.id = r.dataset_id JOIN organisations o ON o.id = d.owner_org_id"
)


def _source(r: dict[str, Any]) -> Source:
    return Source(
        slug=r["slug"],
        dataset_id=r["dataset_id"],
        owner_name=r["owner_name"],
        spec=RemoteSpec.from_json(json.loads(r["spec"])),
        registered_at=r["registered_at"],
        last_attempt_at=r["last_attempt_at"],
        last_success_at=r["last_success_at"],
        last_revision=r["last_revision"],
        last_checksum=r["last_checksum"],
        last_count=r["last_count"],
        last_error=r["last_error"],
        last_error_at=r["last_error_at"],
        failures=r["failures"],
        next_sync_at=r["next_sync_at"],
    )


def get_source(db: sqlite_utils.Database, slug: str) -> Source | None:
    """The remote source of dataset ``slug``, or None for a dataset held by the console."""
    r = row(db, _SQL + " WHERE d.slug = ?", [slug])
    return _source(r) if r else None


def list_sources(db: sqlite_utils.Database) -> list[Source]:
    return [_source(r) for r in rows(db, _SQL + " ORDER BY d.slug")]


def register(
    db: sqlite_utils.Database,
    now: datetime,
    slug: str,
    spec: RemoteSpec | None,
    actor: str | None = None,
) -> Source | None:
    """Record (or change, or remove) where the owner serves ``slug``; audited, idempotent."""
    dataset = catalogue.require_dataset(db, slug)
    with transaction(db):
        current = row(db, "SELECT spec FROM remote_sources WHERE dataset_id = ?", [dataset.id])
        if spec is None:
            if current is not None:
                db.execute("DELETE FROM remote_sources WHERE dataset_id = ?", [dataset.id])
                audit.append(
                    db,
                    now,
                    "dataset.remote_removed",
                    actor=actor,
                    object_type="dataset",
                    object_id=slug,
                )
            return None
        text = dumps(spec.as_json())
        if current is None:
            db.execute(
                "INSERT INTO remote_sources (dataset_id, spec, registered_at) VALUES (?,?,?)",
                [dataset.id, text, iso(now)],
            )
        elif current["spec"] != text:
            # A new address or interval: sync at the next sweep.
            db.execute(
                "UPDATE remote_sources SET spec = ?, next_sync_at = NULL, failures = 0"
                " WHERE dataset_id = ?",
                [text, dataset.id],
            )
        if current is None or current["spec"] != text:
            audit.append(
                db,
                now,
                "dataset.remote_set",
                actor=actor,
                object_type="dataset",
                object_id=slug,
                details={k: v for k, v in spec.as_json().items()},
            )
    return get_source(db, slug)


@dataclass(frozen=True)
class SyncOutcome:
    slug: str
    ok: bool
    features: int = 0
    revision: int | None = None
    unchanged: bool = False
    error: str = ""


def due(db: sqlite_utils.Database, now: datetime) -> list[Source]:
    """Sources whose copy is due for a refresh (never synced, or their time has come)."""
    return [
        s for s in list_sources(db) if s.next_sync_at is None or parse_iso(s.next_sync_at) <= now
    ]


def sweep(
    db: sqlite_utils.Database,
    now: datetime,
    credentials: Credentials | None = None,
    limits: Limits = SYNC,
) -> list[SyncOutcome]:
    """Sync every due source (idempotent: a source just synced is not due again)."""
    return [
        sync_dataset(db, now, s.slug, credentials=credentials, limits=limits) for s in due(db, now)
    ]


def sync_dataset(
    db: sqlite_utils.Database,
    now: datetime,
    slug: str,
    *,
    credentials: Credentials | None = None,
    limits: Limits = SYNC,
    actor: str = "scheduler",
) -> SyncOutcome:
    """Refresh the copy of ``slug`` from its owner now; a failure is recorded, never raised."""
    source = get_source(db, slug)
    if source is None:
        raise catalogue.CatalogueError(f"« {slug} » n'a pas de serveur de gestionnaire (remote)")
    dataset = catalogue.require_dataset(db, slug)
    spec = source.spec
    credentials = credentials or default_credentials()
    fd, name = tempfile.mkstemp(prefix="crisis-sync-", suffix=".geojson")
    tmp = Path(name)
    try:
        try:
            headers = credentials.headers_for(spec.credentials)
            headers["X-Crisis-Purpose"] = "sync"
            request = Request(
                bbox=catalogue.territory_extent(db),
                properties=_schema_fields(dataset),
                headers=headers,
            )
            digest = hashlib.sha256()
            count = 0
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write('{"type":"FeatureCollection","features":[\n')
                for feat in fetch(
                    spec,
                    request,
                    geometry_type=dataset.geometry_type,
                    id_field=dataset.id_field,
                    limits=limits,
                ):
                    line = json.dumps(
                        {
                            "type": "Feature",
                            "id": feat.fid,
                            "geometry": feat.geometry,
                            "properties": feat.properties,
                        },
                        ensure_ascii=False,
                        separators=(",", ":"),
                        sort_keys=True,
                    )
                    digest.update(line.encode())
                    out.write(("," if count else "") + line + "\n")
                    count += 1
                out.write("]}\n")
            checksum = digest.hexdigest()
            return _store(db, now, source, dataset, tmp, checksum, count, actor)
        except (RemoteError, RemoteConfigError, imports.ImportFailed) as exc:
            return _failed(db, now, source, _reason(exc), actor)
    finally:
        tmp.unlink(missing_ok=True)


def _schema_fields(dataset: catalogue.Dataset) -> list[str]:
    names = [f.name for f in dataset.fields]
    return names if dataset.id_field in names else [dataset.id_field, *names]


def _reason(exc: Exception) -> str:
    if isinstance(exc, imports.ImportFailed):
        first = exc.problems[0] if exc.problems else str(exc)
        extra = len(exc.problems) - 1 + exc.more
        return (
            "copie refusée : "
            + first
            + (f" (et {fr.count(extra, 'autre', 'autres')})" if extra > 0 else "")
        )
    return str(exc)


def _store(
    db: sqlite_utils.Database,
    now: datetime,
    source: Source,
    dataset: catalogue.Dataset,
    path: Path,
    checksum: str,
    count: int,
    actor: str,
) -> SyncOutcome:
    spec = source.spec
    unchanged = checksum == source.last_checksum and dataset.revision == source.last_revision
    with transaction(db):
        revision = dataset.revision
        if not unchanged:
            result = imports.import_file(
                db,
                now,
                source.slug,
                path,
                actor=actor,
                fmt="geojson",
                replace=True,
                file_name=f"{spec.kind}:{spec.label}",
            )
            revision = result.revision
        db.execute(
            "UPDATE remote_sources SET last_attempt_at = ?, last_success_at = ?,"
            " last_revision = ?, last_checksum = ?, last_count = ?, last_error = NULL,"
            " last_error_at = NULL, failures = 0, next_sync_at = ? WHERE dataset_id = ?",
            [
                iso(now),
                iso(now),
                revision,
                checksum,
                count,
                iso(now + timedelta(minutes=spec.sync_every_min)),
                source.dataset_id,
            ],
        )
        audit.append(
            db,
            now,
            "dataset.synced",
            actor=actor,
            object_type="dataset",
            object_id=source.slug,
            details={
                "remote": spec.label,
                "kind": spec.kind,
                "features": count,
                "revision": revision,
                "unchanged": unchanged,
                "sha256": checksum,
            },
        )
    log.info(
        "sync of %s from %s: %s features%s",
        source.slug,
        spec.label,
        count,
        " (unchanged)" if unchanged else "",
    )
    return SyncOutcome(source.slug, True, count, revision, unchanged)


def _failed(
    db: sqlite_utils.Database, now: datetime, source: Source, reason: str, actor: str
) -> SyncOutcome:
    failures = source.failures + 1
    interval = timedelta(minutes=source.spec.sync_every_min)
    retry = min(interval, RETRY_FIRST * (2 ** min(failures - 1, 16)))
    with transaction(db):
        db.execute(
            "UPDATE remote_sources SET last_attempt_at = ?, last_error = ?, last_error_at = ?,"
            " failures = ?, next_sync_at = ? WHERE dataset_id = ?",
            [iso(now), reason[:1000], iso(now), failures, iso(now + retry), source.dataset_id],
        )
        audit.append(
            db,
            now,
            "dataset.sync_failed",
            actor=actor,
            object_type="dataset",
            object_id=source.slug,
            details={
                "remote": source.spec.label,
                "kind": source.spec.kind,
                "error": reason[:1000],
                "failures": failures,
                "copy_kept": source.last_success_at,
            },
        )
    log.warning("sync of %s from %s failed: %s", source.slug, source.spec.label, reason)
    return SyncOutcome(source.slug, False, error=reason)
