"""Reading a grant's zone live from the owner's server, or the synced copy when it cannot.

:func:`read_zone` is called by the grant read path (``app.access.read_features``) before its
transaction, once the grant is known valid: the request carries the window of the grant's scope
(bbox), the agreement's whitelisted fields (``properties=`` where the server takes it) and the
grant and event ids (``X-Crisis-Grant``, ``X-Crisis-Event`` headers, and a query parameter when
the catalogue names one) so that the owner's log and our audit log match. The access path
filters the answer again (scope geometry, fields) and writes where it came from in the access
record: ``live``, or ``copy`` with the copy's time and why the live read failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from ..clock import iso, local
from .client import LIVE, Limits, RemoteError, Request, fetch
from .spec import Credentials, RemoteConfigError, default_credentials
from .sync import Source, get_source


@dataclass(frozen=True)
class ReadSource:
    """Where the features of one read came from, for the page, the API and the audit log."""

    kind: str  # live | copy | none
    remote: str  # host/collection
    owner: str
    at: str  # live: the read's time; copy: the copy's time; none: ""
    age: str = ""  # the copy's age ("il y a 3 h 05")
    reason: str = ""  # why not live

    @property
    def live(self) -> bool:
        return self.kind == "live"

    @property
    def message(self) -> str:
        """'copie du 28/11 à 03:00 (il y a 11 h 00) — le serveur du gestionnaire ne répond pas'."""
        if self.kind == "live":
            return f"lecture en direct du serveur de {self.owner} à {local(self.at, '%H:%M')}"
        if self.kind == "copy":
            return f"copie du {local(self.at, '%d/%m à %H:%M')} ({self.age}) — {self.reason}"
        return f"aucune copie synchronisée — {self.reason}"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "remote": self.remote, "message": self.message}
        if self.kind == "copy":
            out["copy_at"] = self.at
        if self.reason:
            out["live_error"] = self.reason
        return out

    def audit(self) -> dict[str, Any]:
        """What the access record adds: the source, the copy's time, why not live."""
        out: dict[str, Any] = {"source": self.kind, "remote": self.remote}
        if self.kind == "copy":
            out["copy_at"] = self.at
        if self.reason:
            out["live_error"] = self.reason
        return out


class SourcedFeatures(list[dict[str, Any]]):
    """The features of a read (a plain list) that also say where they came from."""

    source: ReadSource | None = None

    @classmethod
    def of(cls, features: Iterable[dict[str, Any]], source: ReadSource) -> SourcedFeatures:
        out = cls(features)
        out.source = source
        return out


@dataclass(frozen=True)
class LiveRead:
    """The outcome of asking the owner: live rows (the features table's shape) or None."""

    source: ReadSource
    rows: list[dict[str, Any]] | None  # None: read the synced copy


def is_remote(db: sqlite_utils.Database, dataset_id: int) -> bool:
    return bool(
        db.execute("SELECT 1 FROM remote_sources WHERE dataset_id = ?", [dataset_id]).fetchone()
    )


def read_zone(
    db: sqlite_utils.Database,
    now: datetime,
    slug: str,
    *,
    geometry_type: str,
    id_field: str,
    grant_id: int,
    event_id: int,
    fields: Sequence[str],
    scope_wgs84: BaseGeometry | None,
    bbox: Sequence[float] | None,
    request_id: str,
    credentials: Credentials | None = None,
    limits: Limits = LIVE,
) -> LiveRead | None:
    """Ask the owner for the grant's zone; None when ``slug`` is not kept by its owner.

    Never raises for the owner's failures: they become a ``copy`` (or ``none``) source.
    """
    source = get_source(db, slug)
    if source is None:
        return None
    spec = source.spec
    if scope_wgs84 is None and bbox is None:
        from ..catalogue import territory_extent

        bbox = territory_extent(db)  # a territory-wide grant: the territory, not the world
    window = _window(scope_wgs84, bbox)
    if window is None:
        return LiveRead(ReadSource("live", spec.label, source.owner_name, iso(now)), [])
    try:
        headers = (credentials or default_credentials()).headers_for(spec.credentials)
        headers.update(
            {
                "X-Crisis-Grant": str(grant_id),
                "X-Crisis-Event": str(event_id),
                "X-Request-ID": request_id[:128],
                "X-Crisis-Purpose": "grant",
            }
        )
        extra = {spec.grant_param: f"{grant_id}:{event_id}"} if spec.grant_param else None
        properties = list(dict.fromkeys([id_field, *fields]))
        found = list(
            fetch(
                spec,
                Request(bbox=window, properties=properties, headers=headers, extra_params=extra),
                geometry_type=geometry_type,
                id_field=id_field,
                limits=limits,
            )
        )
    except (RemoteError, RemoteConfigError) as exc:
        reason = exc.reason if isinstance(exc, RemoteError) else str(exc)
        return LiveRead(_fallback(source, now, reason), None)
    rows = [
        {
            "fid": f.fid,
            "geometry": json.dumps(f.geometry),
            "properties": json.dumps(f.properties, ensure_ascii=False),
        }
        for f in sorted(found, key=lambda f: f.fid)
    ]
    return LiveRead(ReadSource("live", spec.label, source.owner_name, iso(now)), rows)


def _window(
    scope: BaseGeometry | None, bbox: Sequence[float] | None
) -> tuple[float, float, float, float] | None:
    """The bbox to ask for: the scope's bounds, cut by the request's bbox (None: empty)."""
    area = box(*scope.bounds) if scope is not None else None
    if bbox is not None:
        asked = box(*(float(v) for v in bbox))
        area = asked if area is None else area.intersection(asked)
    if area is None or area.is_empty:
        return None
    x0, y0, x1, y1 = area.bounds
    return (float(x0), float(y0), float(x1), float(y1))


def _fallback(source: Source, now: datetime, reason: str) -> ReadSource:
    if source.last_success_at is None:
        return ReadSource("none", source.spec.label, source.owner_name, "", reason=reason)
    return ReadSource(
        "copy",
        source.spec.label,
        source.owner_name,
        source.last_success_at,
        age=source.copy_age(now),
        reason=reason,
    )
