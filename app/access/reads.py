"""Reads of restricted data: the valid grant at the moment of the read, the zone scope, and the
read itself with its access record in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import shapely
import sqlite_utils
from shapely.geometry import Point, box, shape
from shapely.geometry.base import BaseGeometry

from .. import audit, auth
from ..db import rows, scalar, transaction
from ..records import Agreement, Dataset, Event, Grant, Zones, latest_zones
from .agreements import get_agreement
from .grants import list_grants
from .policy import FALLBACK_RADIUS_M, PURPOSES, AccessDenied, _event, dataset


def valid_grant(
    db: sqlite_utils.Database, now: datetime, user: auth.User, event_id: int, dataset_slug: str
) -> Grant | None:
    """The user's grant valid right now for this event and dataset, or None."""
    if user.has("admin"):
        return None
    for g in list_grants(
        db, user_id=user.id, event_id=event_id, dataset_slug=dataset_slug, statuses=("active",)
    ):
        if g.valid_at(now):
            return g
    return None


def valid_grants(
    db: sqlite_utils.Database, now: datetime, user: auth.User, event_id: int
) -> dict[str, Grant]:
    """The user's grants valid right now for this event, by dataset slug (one query).

    The same choice as :func:`valid_grant` for each dataset: the most recent valid grant.
    """
    if user.has("admin"):
        return {}
    out: dict[str, Grant] = {}
    for g in list_grants(db, user_id=user.id, event_id=event_id, statuses=("active",)):
        if g.valid_at(now):
            out.setdefault(g.dataset_slug, g)
    return out


def scope_geometry(event: Event, zones: Zones | None, margin_m: float) -> BaseGeometry:
    """The event's outer zone (Lambert-93) buffered by the margin (fallback: a 2 km circle).

    ``zones``: the event's stored zones (``records.latest_zones``), None when none are drawn.
    """
    from ..geo import proj

    geoms: list[BaseGeometry] = []
    for f in (zones["geojson"] if zones else {}).get("features", []):
        if f.get("geometry"):
            geoms.append(proj.to_l93(shape(f["geometry"])))
    if geoms:
        outer = shapely.union_all([shapely.make_valid(g) for g in geoms])
        return outer.buffer(margin_m) if margin_m > 0 else outer
    x, y = proj.lonlat_to_l93(event.lon, event.lat)
    return Point(float(x), float(y)).buffer(FALLBACK_RADIUS_M + margin_m, quad_segs=32)


def _select_features(
    db: sqlite_utils.Database,
    d: Dataset,
    scope: BaseGeometry | None,
    bbox: Sequence[float] | None,
    candidates: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Features of the dataset meeting the scope and bbox (``candidates``: read live instead)."""
    from ..geo import proj

    if candidates is not None:
        return _in_scope(candidates, scope, bbox)
    where = ["dataset_id = ?"]
    params: list[Any] = [d.id]
    windows: list[tuple[float, float, float, float]] = []
    if scope is not None:
        windows.append(tuple(proj.to_wgs84(box(*scope.bounds)).bounds))  # type: ignore[arg-type]
    if bbox is not None:
        windows.append((float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])))
    for minx, miny, maxx, maxy in windows:
        where.append("maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?")
        params.extend([minx, maxx, miny, maxy])
    candidates = rows(
        db,
        "SELECT fid, geometry, properties FROM features WHERE "
        + " AND ".join(where)
        + " ORDER BY fid",
        params,
    )
    return _in_scope(candidates, scope, bbox)


def _in_scope(
    candidates: list[dict[str, Any]], scope: BaseGeometry | None, bbox: Sequence[float] | None
) -> list[dict[str, Any]]:
    from ..geo import proj

    if scope is None and bbox is None:
        return candidates
    out = []
    # The bbox is in degrees: compared in WGS84 (projecting the whole world's box to Lambert-93
    # gives nothing usable, and a lon/lat box is not a rectangle in metres anyway).
    window = box(*(float(v) for v in bbox)) if bbox is not None else None
    for f in candidates:
        wgs84 = shape(json.loads(f["geometry"]))
        if window is not None and not window.intersects(wgs84):
            continue
        if scope is not None and not scope.intersects(proj.to_l93(wgs84)):
            continue
        out.append(f)
    return out


def read_features(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    event_id: int,
    dataset_slug: str,
    purpose: str,
    request_id: str,
    bbox: Sequence[float] | None = None,
    *,
    event: Event | None = None,
    zones: Zones | None = None,
) -> tuple[list[dict[str, Any]], Grant]:
    """Restricted or personal features the user's valid grant opens, as GeoJSON features.

    Scope and field whitelist are applied here. The access record (``data.read``) is written in
    the same transaction: if it cannot be written, nothing is returned. Raises AccessDenied.
    A caller that already read the event gives it with its stored ``zones`` (both, None for no
    zones); otherwise both are read here when the agreement scopes the read to the zones.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    d = dataset(db, dataset_slug)

    def scope_of(a: Agreement) -> BaseGeometry | None:
        """The agreement's scope: the event's zones read once, by the caller or here."""
        nonlocal event, zones
        if a.scope != "zone":
            return None
        if event is None:
            event, zones = _event(db, event_id), latest_zones(db, event_id)
        return scope_geometry(event, zones, a.margin_m)

    owner = _owner_read(db, now, user, event_id, d, bbox, request_id, scope_of)
    with transaction(db):
        g = valid_grant(db, now, user, event_id, dataset_slug)
        if g is not None and d.sensitivity != "public":
            a = get_agreement(db, g.agreement_id)
            scope = scope_of(a)
            live = owner[1] if owner is not None and owner[0] == g.id else None
            selected = _select_features(db, d, scope, bbox, live.rows if live else None)
            keep = set(a.fields) | {d.id_field, "id"}
            features = []
            for f in selected:
                props = json.loads(f["properties"])
                features.append(
                    {
                        "type": "Feature",
                        "id": f["fid"],
                        "geometry": json.loads(f["geometry"]),
                        "properties": {k: v for k, v in props.items() if k in keep},
                    }
                )
            ids = [f["fid"] for f in selected]
            audit.append(
                db,
                now,
                "data.read",
                actor=user.login,
                object_type="grant",
                object_id=g.id,
                event_id=event_id,
                details={
                    "grant": g.id,
                    "dataset": dataset_slug,
                    "purpose": purpose,
                    "count": len(ids),
                    "ids": ids,
                    "request_id": request_id,
                    "scope": a.scope,
                }
                | (live.source.audit() if live else {}),
            )
            if live is not None:
                from ..remote.live import SourcedFeatures

                return SourcedFeatures.of(features, live.source), g
            return features, g
        audit.append(
            db,
            now,
            "data.denied",
            actor=user.login,
            object_type="dataset",
            object_id=dataset_slug,
            event_id=event_id,
            details={"dataset": dataset_slug, "purpose": purpose, "request_id": request_id},
        )
    raise AccessDenied(
        "Aucun accès valide à ces données pour cet événement (bris de glace requis)."
    )


def _owner_read(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    event_id: int,
    d: Dataset,
    bbox: Sequence[float] | None,
    request_id: str,
    scope_of: Callable[[Agreement], BaseGeometry | None],
) -> tuple[int, Any] | None:
    """Hook for datasets kept by their owner (app.remote): ask the owner's server for the zone.

    Runs before the read's transaction (a network call must not hold the write lock) and only
    for a grant valid now; the read checks the grant again and filters the answer again.
    Returns (grant id, ``app.remote.live.LiveRead``), or None for a dataset the console holds.
    """
    from ..remote import live

    if d.sensitivity == "public" or not live.is_remote(db, d.id):
        return None
    g = valid_grant(db, now, user, event_id, d.slug)
    if g is None:
        return None
    from ..geo import proj

    a = get_agreement(db, g.agreement_id)
    scope = scope_of(a)
    read = live.read_zone(
        db,
        now,
        d.slug,
        geometry_type=d.geometry_type,
        id_field=d.id_field,
        grant_id=g.id,
        event_id=event_id,
        fields=a.fields,
        scope_wgs84=proj.to_wgs84(scope) if scope is not None else None,
        bbox=bbox,
        request_id=request_id,
    )
    return (g.id, read) if read is not None else None


def has_valid_grant(
    db: sqlite_utils.Database, now: datetime, user: auth.User, event_id: int, dataset_slug: str
) -> bool:
    """Whether a read would be allowed right now (for showing links; the read re-checks)."""
    return valid_grant(db, now, user, event_id, dataset_slug) is not None


def read_since(db: sqlite_utils.Database, seq: int, actor: str, request_id: str) -> bool:
    """Whether ``actor`` read restricted or personal data after audit record ``seq`` within the
    request ``request_id``.

    Every such read leaves a ``data.read`` record naming its request (no record, no data), so a
    response built while none appeared holds none: that is how the web layer decides what a
    tablet may keep.
    """
    return (
        scalar(
            db,
            "SELECT 1 FROM audit_log WHERE seq > ? AND action = 'data.read' AND actor = ?"
            " AND json_extract(details, '$.request_id') = ? LIMIT 1",
            [seq, actor, request_id],
        )
        is not None
    )


def holders(
    db: sqlite_utils.Database, now: datetime, event_id: int, dataset_slug: str | None = None
) -> list[Grant]:
    """Grants valid right now on an event (who holds access), optionally for one dataset."""
    return [
        g
        for g in list_grants(db, event_id=event_id, dataset_slug=dataset_slug, statuses=("active",))
        if g.valid_at(now)
    ]
