"""The data catalogue: datasets, their property schema, features, revisions, exports.

Reads of features go through :func:`public_features`, which refuses restricted and personal
datasets; the break-glass layer adds its own grant-checked read beside it. :func:`features` is the
unchecked read for domain code (spatial index, impact counts) and must never feed a response
directly. Imports live in :mod:`app.imports` and land through :func:`write_features`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import sqlite_utils

from . import audit
from .catalogue_file import DatasetSpec, parse_catalogue
from .clock import iso
from .db import dumps, row, rows, scalar, transaction
from .errors import DomainError
from .geo.index import LayerData, LayerRows, RowChunk, first_point
from .records import (
    DATASET_SQL,
    Dataset,
    Field,
    dataset_from_row,
    get_dataset,
)
from .records import SENSITIVITIES as SENSITIVITIES  # re-exported: catalogue.SENSITIVITIES
from .records import THEMES as THEMES

FIELD_TYPES = ("str", "int", "float", "bool", "json")
GEOMETRY_TYPES = ("Point", "LineString", "Polygon", "MultiLineString", "MultiPolygon")
# Extent of the Caux Seine territory (lon/lat) with a margin of roughly 10 km; used when the
# `territory` dataset is not loaded yet.
DEFAULT_EXTENT = (0.22, 49.30, 0.97, 49.79)
EXTENT_MARGIN_DEG = 0.12


class CatalogueError(DomainError):
    """A refused catalogue operation, with a French message for the person at the keyboard."""


class NotPublic(CatalogueError):
    """The dataset's features need a grant (restricted or personal)."""

    status = 403


TERRITORY = "territory"


def _coverage_digest(stored: str) -> str:
    if stored == TERRITORY:
        return TERRITORY
    import hashlib

    return "polygone sha256:" + hashlib.sha256(stored.encode()).hexdigest()[:16]


def parse_fields(raw: Iterable[dict[str, Any]], where: str = "fields") -> tuple[Field, ...]:
    """Validate a property schema given as a list of dicts (catalogue.yaml's shape)."""
    out: list[Field] = []
    seen: set[str] = set()
    for i, f in enumerate(raw):
        if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not f["name"]:
            raise CatalogueError(f"{where}[{i}] : champ sans nom")
        name = f["name"]
        ftype = f.get("type", "str")
        if ftype not in FIELD_TYPES:
            raise CatalogueError(
                f"{where}[{i}] ({name}) : type « {ftype} » inconnu ({', '.join(FIELD_TYPES)})"
            )
        if name in seen:
            raise CatalogueError(f"{where}[{i}] : champ « {name} » en double")
        seen.add(name)
        values = f.get("values")
        out.append(
            Field(
                name=name,
                type=ftype,
                required=bool(f.get("required", False)),
                label=str(f.get("label") or name),
                values=tuple(values) if values is not None else None,
                unit=f.get("unit"),
            )
        )
    return tuple(out)


def require_dataset(db: sqlite_utils.Database, slug: str) -> Dataset:
    """The dataset ``slug``; CatalogueError naming the known slugs otherwise."""
    found = get_dataset(db, slug)
    if found is None:
        known = ", ".join(r["slug"] for r in rows(db, "SELECT slug FROM datasets ORDER BY slug"))
        raise CatalogueError(f"jeu de données « {slug} » inconnu (connus : {known or 'aucun'})")
    return found


def list_datasets(
    db: sqlite_utils.Database,
    *,
    theme: str | None = None,
    owner: str | None = None,
    sensitivity: str | None = None,
    q: str | None = None,
) -> list[Dataset]:
    """Datasets matching every given filter, by theme then title."""
    where, params = [], []
    if theme:
        where.append("d.theme = ?")
        params.append(theme)
    if owner:
        where.append("o.slug = ?")
        params.append(owner)
    if sensitivity:
        where.append("d.sensitivity = ?")
        params.append(sensitivity)
    if q:
        where.append("(d.title LIKE ? OR d.slug LIKE ? OR d.description LIKE ?)")
        params += [f"%{q}%"] * 3
    sql = (
        DATASET_SQL
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY d.theme, d.title"
    )
    return [dataset_from_row(r) for r in rows(db, sql, params)]


def owners(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Organisations that own at least one dataset (for filters)."""
    return rows(
        db,
        "SELECT DISTINCT o.slug, o.name FROM organisations o JOIN datasets d"
        " ON d.owner_org_id = o.id ORDER BY o.name",
    )


def ensure_dataset(
    db: sqlite_utils.Database, now: datetime, spec: Any, actor: str | None = None
) -> Dataset:
    """Create a dataset from a catalogue entry, or update its metadata; audited.

    ``spec`` is an :class:`app.catalogue_file.DatasetSpec` or the same as a dict (validated).
    """
    if not isinstance(spec, DatasetSpec):
        slug = spec.get("slug") if isinstance(spec, dict) else None
        name = f"jeu de données « {slug} »" if isinstance(slug, str) else "jeu de données"
        spec = parse_catalogue({"datasets": [spec]}, name).datasets[0]
    slug = spec.slug
    fields = parse_fields([f.model_dump(exclude_none=True) for f in spec.fields], f"{slug}.fields")
    org_id = scalar(db, "SELECT id FROM organisations WHERE slug = ?", [spec.owner])
    if org_id is None:
        raise CatalogueError(f"{slug} : organisation « {spec.owner} » inconnue")
    values = {
        "title": spec.title,
        "description": spec.description,
        "owner_org_id": org_id,
        "theme": spec.theme,
        "geometry_type": spec.geometry_type,
        "sensitivity": spec.sensitivity,
        "id_field": spec.id_field,
        "fields": dumps([f.as_dict() for f in fields]),
        "source": spec.source,
        "mapping": dumps([m.model_dump(exclude_none=True) for m in spec.mapping]),
        "coverage": TERRITORY if spec.coverage == TERRITORY else dumps(spec.coverage),
    }
    with transaction(db):
        existing = row(db, "SELECT * FROM datasets WHERE slug = ?", [slug])
        if existing is None:
            db.execute(
                "INSERT INTO datasets (slug, title, description, owner_org_id, theme,"
                " geometry_type, sensitivity, id_field, fields, source, mapping, coverage,"
                " created_at,"
                " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [slug, *values.values(), iso(now), iso(now)],
            )
            audit.append(
                db,
                now,
                "dataset.created",
                actor=actor,
                object_type="dataset",
                object_id=slug,
                details={
                    k: v for k, v in values.items() if k not in ("fields", "mapping", "coverage")
                }
                | {"coverage": _coverage_digest(values["coverage"]), "owner": spec.owner},
            )
        else:
            changed = {k: v for k, v in values.items() if existing[k] != v}
            if changed:
                sets = ", ".join(f"{k} = ?" for k in changed)
                db.execute(
                    f"UPDATE datasets SET {sets}, updated_at = ? WHERE slug = ?",
                    [*changed.values(), iso(now), slug],
                )
                audit.append(
                    db,
                    now,
                    "dataset.updated",
                    actor=actor,
                    object_type="dataset",
                    object_id=slug,
                    details={"changed": sorted(changed)},
                )
    return require_dataset(db, slug)


def may_manage(user: Any, dataset: Dataset) -> bool:
    """Stewards manage their own organisation's datasets."""
    return (
        user is not None
        and "steward" in user.roles
        and getattr(user, "org_slug", None) == dataset.owner_slug
    )


def revisions(db: sqlite_utils.Database, slug: str) -> list[dict[str, Any]]:
    """The dataset's revision history, newest first."""
    return rows(
        db,
        "SELECT r.* FROM dataset_revisions r JOIN datasets d ON d.id = r.dataset_id"
        " WHERE d.slug = ? ORDER BY r.revision DESC",
        [slug],
    )


def revision_of(db: sqlite_utils.Database, slug: str) -> int:
    """The dataset's current revision (-1 when unknown), for the spatial index."""
    rev = scalar(db, "SELECT revision FROM datasets WHERE slug = ?", [slug])
    return -1 if rev is None else int(rev)


def territory_extent(db: sqlite_utils.Database) -> tuple[float, float, float, float]:
    """Where imported coordinates must fall: the territory's bbox plus a margin, in lon/lat."""
    bbox = scalar(db, "SELECT bbox FROM datasets WHERE slug = 'territory' AND feature_count > 0")
    if not bbox:
        return DEFAULT_EXTENT
    minx, miny, maxx, maxy = json.loads(bbox)
    m = EXTENT_MARGIN_DEG
    return (minx - m, miny - m, maxx + m, maxy + m)


# -- features --------------------------------------------------------------------------------


def features(
    db: sqlite_utils.Database,
    slug: str,
    bbox: tuple[float, float, float, float] | None = None,
    ids: Iterable[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Features of a dataset as GeoJSON (WGS84), by feature id. No access check: domain only."""
    dataset_id = scalar(db, "SELECT id FROM datasets WHERE slug = ?", [slug])
    if dataset_id is None:
        raise CatalogueError(f"jeu de données « {slug} » inconnu")
    sql = "SELECT fid, geometry, properties FROM features WHERE dataset_id = ?"
    params: list[Any] = [dataset_id]
    if bbox is not None:
        sql += " AND maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?"
        params += [bbox[0], bbox[2], bbox[1], bbox[3]]
    if ids is not None:
        id_list = [str(i) for i in ids]
        if not id_list:
            return
        sql += f" AND fid IN ({','.join('?' * len(id_list))})"
        params += id_list
    sql += " ORDER BY fid"
    for fid, geometry, properties in db.execute(sql, params):
        yield {
            "type": "Feature",
            "id": fid,
            "properties": json.loads(properties),
            "geometry": json.loads(geometry),
        }


def public_features(
    db: sqlite_utils.Database,
    slug: str,
    bbox: tuple[float, float, float, float] | None = None,
    ids: Iterable[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Features of a public dataset; NotPublic for restricted and personal ones."""
    dataset = require_dataset(db, slug)
    if not dataset.is_public:
        raise NotPublic(
            f"« {dataset.title} » est un jeu de données {dataset.sensitivity_label.lower()} :"
            " ses entités ne sont accessibles que par bris de glace."
        )
    return features(db, slug, bbox=bbox, ids=ids)


def layer_data(db: sqlite_utils.Database, slug: str) -> LayerData:
    """One dataset, all features, as GeoJSON dicts (the reference the fast loader is checked on)."""
    dataset = require_dataset(db, slug)
    ids: list[str] = []
    geometries: list[dict[str, Any]] = []
    properties: list[dict[str, Any]] = []
    with transaction(db):  # one snapshot: revision and features agree
        revision = revision_of(db, slug)
        for feat in features(db, slug):
            ids.append(feat["id"])
            geometries.append(feat["geometry"])
            properties.append(feat["properties"])
    return LayerData(revision, dataset.geometry_type, ids, geometries, properties)


LAYER_CHUNK = 20_000  # rows per chunk of layer_rows: bounds the build's transient memory
# A stored geometry is `{"coordinates":C,"type":"T"}` (sorted keys, compact): SQLite cuts it
# into C and T so that the index parses all coordinates at once (app.geo.index).
_STORED_FORM = (
    "substr(geometry, 1, 15) = '{\"coordinates\":' AND substr(geometry, -2) = '\"}'"
    ' AND instr(geometry, \',"type":"\') > 0'
)
_GEOMETRY_ROWS = f"""
SELECT CAST(fid AS BLOB),
  CASE WHEN {_STORED_FORM}
    THEN substr(geometry, 16, instr(geometry, ',"type":"') - 16) ELSE geometry END,
  CASE WHEN {_STORED_FORM}
    THEN substr(geometry, instr(geometry, ',"type":"') + 9,
                length(geometry) - instr(geometry, ',"type":"') - 10) ELSE '' END,
  CAST(properties AS BLOB)
FROM features WHERE dataset_id = ? ORDER BY fid
"""
_POINT_ROWS = """
SELECT CAST(fid AS BLOB), minx, miny, minx <> maxx OR miny <> maxy, CAST(properties AS BLOB)
FROM features WHERE dataset_id = ? ORDER BY fid
"""


def layer_rows(db: sqlite_utils.Database, slug: str) -> LayerRows:
    """The spatial index's loader: one dataset's stored rows in chunks, read in one snapshot.

    A deferred transaction (a read snapshot under WAL: writers go on) spans the count, the
    revision and every chunk; it ends when the chunks are consumed or ``close()`` is called.
    Points come from the bounding-box columns (a point's box is the point, kept so by
    :func:`write_features`), ids and properties as their stored UTF-8 text, lines and polygons
    as their coordinates text: nothing is decoded row by row here.
    """
    dataset = require_dataset(db, slug)
    own = not db.conn.in_transaction
    if own:
        db.conn.execute("BEGIN")
    try:
        revision, count, updated_at = db.execute(
            "SELECT revision, (SELECT count(*) FROM features WHERE dataset_id = d.id),"
            " updated_at FROM datasets d WHERE d.id = ?",
            [dataset.id],
        ).fetchone()
    except BaseException:
        if own and db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    point = dataset.geometry_type == "Point"

    def chunks() -> Generator[RowChunk, None, None]:
        try:
            cursor = db.execute(_POINT_ROWS if point else _GEOMETRY_ROWS, [dataset.id])
            while True:
                rows_ = cursor.fetchmany(LAYER_CHUNK)
                if not rows_:
                    break
                if point:
                    yield _point_chunk(db, dataset.id, rows_)
                else:
                    fids, coordinates, types, props = map(list, zip(*rows_, strict=True))
                    yield RowChunk(fids, props, coordinates=coordinates, geometry_types=types)
        finally:
            if own and db.conn.in_transaction:
                db.conn.execute("COMMIT")

    stream = chunks()

    def close() -> None:
        stream.close()  # a generator never started does not run its finally: end the read here
        if own and db.conn.in_transaction:
            db.conn.execute("COMMIT")

    # The content's identity, for the index's layer files; personal data is never put there.
    token = (
        "" if dataset.sensitivity == "personal" else f"{dataset.id}:{revision}:{updated_at}:{count}"
    )
    return LayerRows(int(revision), dataset.geometry_type, int(count), stream, close, token)


def _point_chunk(db: sqlite_utils.Database, dataset_id: int, rows_: list[Any]) -> RowChunk:
    fids, minx, miny, odd, props = map(list, zip(*rows_, strict=True))
    for i in (i for i, flag in enumerate(odd) if flag) if any(odd) else ():
        # Not a plain point (a multipoint): read its geometry, located by its first point.
        text = scalar(
            db,
            "SELECT geometry FROM features WHERE dataset_id = ? AND fid = ?",
            [dataset_id, fids[i].decode("utf-8")],
        )
        found = first_point(json.loads(text)) if text else None
        minx[i], miny[i] = found if found is not None else (math.nan, math.nan)
    return RowChunk(fids, props, lon=minx, lat=miny)


@dataclass(frozen=True)
class PreparedFeature:
    """A validated feature ready to store: WGS84 GeoJSON geometry and its bbox."""

    fid: str
    geometry: dict[str, Any]
    properties: dict[str, Any]
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class ImportResult:
    slug: str
    revision: int
    features: int
    inserted: int
    updated: int
    removed: int
    skipped: int = 0


def _point_box(geometry: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """A Point's box is its stored coordinates exactly: the spatial index reads points there."""
    if geometry.get("type") != "Point":
        return None
    c = geometry.get("coordinates")
    if not c or len(c) < 2:
        return None
    x, y = float(c[0]), float(c[1])
    return (x, y, x, y)


# Same text as app.db.dumps (compact, sorted keys, UTF-8 kept), one encoder for every row.
_STORE_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def write_features(
    db: sqlite_utils.Database,
    now: datetime,
    slug: str,
    prepared: Iterable[PreparedFeature],
    *,
    actor: str | None,
    file_name: str,
    replace: bool = False,
    details: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    batch: int = 2000,
) -> ImportResult:
    """Store already validated features in ONE transaction: upsert by id, or replace all.

    The revision goes up, a dataset_revisions row and an audit record are written with it.
    ``prepared`` is consumed inside the transaction: an exception it raises rolls everything
    back. ``details`` (added to the audit record) may be a callable, called once every feature
    is written, for facts only known then (a streaming import's checksum).
    """
    dataset = require_dataset(db, slug)
    upsert = (
        "INSERT INTO features (dataset_id, fid, geometry, properties, minx, miny, maxx, maxy)"
        " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (dataset_id, fid) DO UPDATE SET"
        " geometry = excluded.geometry, properties = excluded.properties, minx = excluded.minx,"
        " miny = excluded.miny, maxx = excluded.maxx, maxy = excluded.maxy"
    )
    with transaction(db):
        before = scalar(db, "SELECT count(*) FROM features WHERE dataset_id = ?", [dataset.id])
        removed = 0
        if replace:
            db.execute("DELETE FROM features WHERE dataset_id = ?", [dataset.id])
            removed = before
            before = 0
        total = 0
        chunk: list[tuple[Any, ...]] = []
        encode = _STORE_JSON.encode  # db.dumps without building an encoder per call
        for f in prepared:
            box = _point_box(f.geometry) or f.bbox
            chunk.append((dataset.id, f.fid, encode(f.geometry), encode(f.properties), *box))
            total += 1
            if len(chunk) >= batch:
                db.conn.executemany(upsert, chunk)
                chunk = []
        if chunk:
            db.conn.executemany(upsert, chunk)
        after, minx, miny, maxx, maxy = db.execute(
            "SELECT count(*), min(minx), min(miny), max(maxx), max(maxy) FROM features"
            " WHERE dataset_id = ?",
            [dataset.id],
        ).fetchone()
        inserted = after - before
        updated = total - inserted
        if replace:
            # A feature kept across a replace counts as updated, a new one as inserted.
            inserted, updated, removed = total, 0, removed
        revision = dataset.revision + 1
        bbox = dumps([minx, miny, maxx, maxy]) if after else None
        db.execute(
            "UPDATE datasets SET revision = ?, feature_count = ?, bbox = ?, updated_at = ?"
            " WHERE id = ?",
            [revision, after, bbox, iso(now), dataset.id],
        )
        action = "replace" if replace else "import"
        db.execute(
            "INSERT INTO dataset_revisions (dataset_id, revision, at, actor, action, file_name,"
            " feature_count, inserted, updated) VALUES (?,?,?,?,?,?,?,?,?)",
            [dataset.id, revision, iso(now), actor, action, file_name, after, inserted, updated],
        )
        audit.append(
            db,
            now,
            f"dataset.{action}",
            actor=actor,
            object_type="dataset",
            object_id=slug,
            details={
                "file": file_name,
                "revision": revision,
                "features_in_file": total,
                "inserted": inserted,
                "updated": updated,
                "removed": removed,
                "feature_count": after,
            }
            | ((details() if callable(details) else details) or {}),
        )
    return ImportResult(slug, revision, after, inserted, updated, removed)


# -- export ----------------------------------------------------------------------------------


def geojson_chunks(feats: Iterable[dict[str, Any]], name: str = "") -> Iterator[str]:
    """A FeatureCollection (WGS84, ids kept) as text chunks, one feature per line."""
    head = '{"type":"FeatureCollection"'
    if name:
        head += f',"name":{json.dumps(name)}'
    yield head + ',"features":[\n'
    first = True
    for feat in feats:
        text = json.dumps(feat, ensure_ascii=False, separators=(",", ":"))
        yield text if first else ",\n" + text
        first = False
    yield "\n]}\n"


def csv_columns(dataset: Dataset) -> list[str]:
    """Columns of a CSV export: the id field, the schema's fields, then the geometry."""
    names = [dataset.id_field] + [f.name for f in dataset.fields if f.name != dataset.id_field]
    if dataset.geometry_type == "Point":
        return [*names, "lon", "lat"]
    return [*names, "geometry"]


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text  # shown as text by Excel and LibreOffice, never evaluated
    return text


def csv_chunks(dataset: Dataset, feats: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Features as CSV (UTF-8, `,`): points as lon/lat, others as a GeoJSON `geometry` column.

    Properties outside the schema go to an `extra` column holding a JSON object.
    """
    columns = csv_columns(dataset)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*columns, "extra"])
    known = set(columns)
    point = dataset.geometry_type == "Point"
    for feat in feats:
        props = dict(feat["properties"])
        props.setdefault(dataset.id_field, feat["id"])
        geometry = feat["geometry"]
        cells = []
        for c in columns:
            if point and c == "lon":
                cells.append(repr(float(geometry["coordinates"][0])))
            elif point and c == "lat":
                cells.append(repr(float(geometry["coordinates"][1])))
            elif c == "geometry":
                cells.append(json.dumps(geometry, separators=(",", ":")))
            else:
                cells.append(_csv_cell(props.get(c)))
        extra = {k: v for k, v in props.items() if k not in known}
        cells.append(json.dumps(extra, ensure_ascii=False, separators=(",", ":")) if extra else "")
        writer.writerow(cells)
        if buf.tell() > 65536:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def export_file(dataset: Dataset, feats: Iterable[dict[str, Any]], out: IO[str], fmt: str) -> int:
    """Write features to ``out`` as "geojson" or "csv"; return the count."""
    counted = _Counter(feats)
    chunks = csv_chunks(dataset, counted) if fmt == "csv" else geojson_chunks(counted, dataset.slug)
    for chunk in chunks:
        out.write(chunk)
    return counted.n


class _Counter:
    def __init__(self, items: Iterable[dict[str, Any]]):
        self.items = items
        self.n = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for item in self.items:
            self.n += 1
            yield item
