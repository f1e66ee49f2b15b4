"""In-memory spatial index of the catalogue's layers, in Lambert-93.

Data comes in through a loader callable (the catalogue owns the database); this module only
builds and caches the projected, indexed form:

- point layers keep numpy float64 ``x``/``y`` arrays (Lambert-93), sorted by ``x`` so that a
  bounding box becomes a ``searchsorted`` slice plus a mask, and ``lon``/``lat`` for output;
- line and polygon layers keep a shapely array in Lambert-93 and an ``STRtree``; WGS84 output is
  re-projected on demand (the inverse Lambert-93 projection round-trips to well under a
  millimetre), so the GeoJSON dicts are not kept;
- properties are stored column by column (:class:`PropertyTable`): one process holds every
  layer of a département, and a dict per feature costs several times its values.

Layers are immutable once built: an analysis that holds a :class:`Layer` keeps a consistent
snapshot even if the dataset is rebuilt meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from app.geo import proj

__all__ = ["Layer", "LayerData", "PropertyTable", "SpatialIndex", "geometry_kind"]

_MISSING: Any = object()


@dataclass(frozen=True)
class LayerData:
    """What a loader returns for one dataset: WGS84 GeoJSON geometries and their properties."""

    revision: int
    geometry_type: str
    ids: list[str]
    geometries: list[dict[str, Any]]
    properties: list[dict[str, Any]]


def geometry_kind(geometry_type: str) -> str:
    """Map a GeoJSON geometry type to ``"point"``, ``"line"`` or ``"polygon"``."""
    t = geometry_type.lower().removeprefix("multi")
    if t == "point":
        return "point"
    if t == "linestring":
        return "line"
    if t == "polygon":
        return "polygon"
    raise ValueError(f"unsupported geometry type: {geometry_type!r}")


class PropertyTable(Sequence[dict[str, Any]]):
    """Column-oriented feature properties that still read as a list of dicts.

    Numeric columns without gaps become numpy arrays (``column("ind")`` is then a float/int
    array, handy for vectorised sums); other columns are object arrays whose repeated strings
    are shared. ``table[i]`` rebuilds the i-th dict with plain Python values.
    """

    def __init__(self, columns: dict[str, np.ndarray], length: int) -> None:
        self._columns = columns
        self._len = length

    @classmethod
    def from_dicts(cls, rows: Sequence[dict[str, Any]]) -> PropertyTable:
        keys: dict[str, None] = {}
        for row in rows:
            for k in row:
                keys.setdefault(k, None)
        columns: dict[str, np.ndarray] = {}
        n = len(rows)
        for key in keys:
            values = [row.get(key, _MISSING) for row in rows]
            columns[key] = _make_column(values, n)
        return cls(columns, n)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._len))]
        out: dict[str, Any] = {}
        for key, col in self._columns.items():
            v = col[i]
            if v is _MISSING:
                continue
            out[key] = v.item() if isinstance(v, np.generic) else v
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self._len):
            yield self[i]

    @property
    def keys(self) -> list[str]:
        return list(self._columns)

    def column(self, key: str, default: Any = None, idx: np.ndarray | None = None) -> np.ndarray:
        """Column ``key`` (rows ``idx``, default all), missing values as ``default``."""
        n = self._len if idx is None else len(idx)
        col = self._columns.get(key)
        if col is None:
            return np.full(n, default, dtype=object)
        out = col if idx is None else col[idx]
        if out.dtype == object:
            missing = np.fromiter((v is _MISSING for v in out), dtype=bool, count=n)
            if missing.any():
                out = out.copy()
                out[missing] = default
        return out

    def numeric(self, key: str, idx: np.ndarray | None = None) -> np.ndarray:
        """Column ``key`` (rows ``idx``) as float64, non-numeric or missing values as 0."""
        n = self._len if idx is None else len(idx)
        col = self._columns.get(key)
        if col is None:
            return np.zeros(n)
        out = col if idx is None else col[idx]
        if out.dtype != object:
            return out.astype(np.float64, copy=False)
        return np.array([_to_float(v) for v in out], dtype=np.float64)

    def take(self, order: np.ndarray) -> PropertyTable:
        """A new table with rows in ``order``."""
        return PropertyTable({k: c[order] for k, c in self._columns.items()}, len(order))

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the column arrays (not the shared string objects)."""
        return sum(c.nbytes for c in self._columns.values())


def _to_float(v: Any) -> float:
    if isinstance(v, bool) or v is _MISSING or v is None:
        return 0.0
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _make_column(values: list[Any], n: int) -> np.ndarray:
    if values and all(type(v) is int for v in values):
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            pass
    elif values and all(type(v) is float or type(v) is int for v in values):
        return np.array(values, dtype=np.float64)
    shared: dict[str, str] = {}
    col = np.empty(n, dtype=object)
    for i, v in enumerate(values):
        if type(v) is str:
            v = shared.setdefault(v, v)
        col[i] = v
    return col


class Layer:
    """One dataset, projected to Lambert-93 and indexed. Immutable once built."""

    def __init__(
        self,
        slug: str,
        revision: int,
        geometry_type: str,
        ids: np.ndarray,
        properties: PropertyTable,
        *,
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        lon: np.ndarray | None = None,
        lat: np.ndarray | None = None,
        geoms: np.ndarray | None = None,
    ) -> None:
        self.slug = slug
        self.revision = revision
        self.geometry_type = geometry_type
        self.kind = geometry_kind(geometry_type)
        self.ids = ids
        self.properties = properties
        self.x = x
        self.y = y
        self.lon = lon
        self.lat = lat
        self.geoms = geoms
        self.tree: STRtree | None = None
        if geoms is not None:
            self.tree = STRtree(geoms)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"<Layer {self.slug} r{self.revision} {self.kind} n={len(self)}>"

    # -- points ------------------------------------------------------------------------------
    def bbox_candidates(self, bounds: Sequence[float]) -> np.ndarray:
        """Indices of the points inside ``(xmin, ymin, xmax, ymax)`` (closed box)."""
        assert self.x is not None and self.y is not None
        xmin, ymin, xmax, ymax = bounds
        lo = int(np.searchsorted(self.x, xmin, side="left"))
        hi = int(np.searchsorted(self.x, xmax, side="right"))
        ys = self.y[lo:hi]
        return np.nonzero((ys >= ymin) & (ys <= ymax))[0] + lo

    def points_in(self, geom: BaseGeometry) -> np.ndarray:
        """Indices of the points inside ``geom`` or on its boundary (Lambert-93)."""
        if self.kind != "point":
            raise TypeError(f"{self.slug} is not a point layer")
        assert self.x is not None and self.y is not None
        if geom.is_empty:
            return np.zeros(0, dtype=np.intp)
        idx = self.bbox_candidates(geom.bounds)
        if len(idx) == 0:
            return idx
        shapely.prepare(geom)
        # contains_xy excludes the boundary; a point exactly at the radius counts as inside
        # (the conservative reading for a crisis cell), hence the intersects_xy.
        mask = shapely.intersects_xy(geom, self.x[idx], self.y[idx])
        return idx[mask]

    def point_geoms(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Lambert-93 shapely points for ``idx`` (all by default)."""
        assert self.x is not None and self.y is not None
        if idx is None:
            return shapely.points(self.x, self.y)
        return shapely.points(self.x[idx], self.y[idx])

    # -- any kind ----------------------------------------------------------------------------
    def geometry_l93(self, i: int) -> BaseGeometry:
        """The i-th geometry in Lambert-93."""
        if self.kind == "point":
            assert self.x is not None and self.y is not None
            return shapely.Point(float(self.x[i]), float(self.y[i]))
        assert self.geoms is not None
        geom: BaseGeometry = self.geoms[i]
        return geom

    def geometry_wgs84(self, i: int) -> BaseGeometry:
        """The i-th geometry in WGS84."""
        if self.kind == "point":
            assert self.lon is not None and self.lat is not None
            return shapely.Point(float(self.lon[i]), float(self.lat[i]))
        geom: BaseGeometry = proj.to_wgs84(self.geometry_l93(i))
        return geom

    def geojson(self, i: int, precision: int | None = 6) -> dict[str, Any]:
        """The i-th geometry as a WGS84 GeoJSON dict."""
        return proj.shape_to_geojson(self.geometry_wgs84(i), precision)

    def query(self, geom: BaseGeometry, predicate: str | None = None) -> np.ndarray:
        """STRtree query (lines/polygons) or bbox + point test (points)."""
        if self.kind == "point":
            if predicate is None:
                return self.bbox_candidates(geom.bounds)
            return self.points_in(geom)
        assert self.tree is not None
        return self.tree.query(geom, predicate=predicate)  # type: ignore[no-any-return]


Loader = Callable[[str], LayerData]
RevisionOf = Callable[[str], int]


class SpatialIndex:
    """Lazily built, revision-checked cache of :class:`Layer` objects, safe across threads.

    ``layer(slug)`` builds a layer on first use and rebuilds it when ``revision_of(slug)`` no
    longer matches; without ``revision_of`` a layer stays until ``invalidate(slug)``. Only one
    thread builds a given slug at a time; the others wait for it and share the result, while
    layers of other slugs are served meanwhile.
    """

    def __init__(self, loader: Loader, revision_of: RevisionOf | None = None) -> None:
        self._loader = loader
        self._revision_of = revision_of
        self._layers: dict[str, Layer] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.builds = 0  # number of layer builds, for tests and monitoring

    def _lock_for(self, slug: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(slug)
            if lock is None:
                lock = self._locks[slug] = threading.Lock()
            return lock

    def _fresh(self, slug: str) -> Layer | None:
        layer = self._layers.get(slug)
        if layer is None:
            return None
        if self._revision_of is not None and self._revision_of(slug) != layer.revision:
            return None
        return layer

    def layer(self, slug: str) -> Layer:
        """The indexed layer ``slug``, built or rebuilt if needed."""
        layer = self._fresh(slug)
        if layer is not None:
            return layer
        with self._lock_for(slug):
            layer = self._fresh(slug)  # another thread may have built it while we waited
            if layer is None:
                layer = build_layer(slug, self._loader(slug))
                with self._guard:
                    self._layers[slug] = layer
                    self.builds += 1
            return layer

    def cached(self, slug: str) -> Layer | None:
        """The cached layer, without any staleness check or build."""
        return self._layers.get(slug)

    def invalidate(self, slug: str | None = None) -> None:
        """Drop ``slug`` (or every layer) from the cache; the next ``layer()`` rebuilds it."""
        with self._guard:
            if slug is None:
                self._layers.clear()
            else:
                self._layers.pop(slug, None)

    def slugs(self) -> list[str]:
        return list(self._layers)


# -- building --------------------------------------------------------------------------------


def _compact_ids(ids: Sequence[str]) -> np.ndarray:
    # Short ids are cheaper as a fixed-width unicode array than as Python str objects.
    if ids and max(map(len, ids)) <= 24:
        return np.array(ids, dtype=str)
    return np.array(list(ids), dtype=object)


def build_layer(slug: str, data: LayerData) -> Layer:
    """Project and index one loader result."""
    n = len(data.ids)
    if len(data.geometries) != n or len(data.properties) != n:
        raise ValueError(f"{slug}: ids, geometries and properties differ in length")
    kind = geometry_kind(data.geometry_type)
    ids = _compact_ids(data.ids)
    props = PropertyTable.from_dicts(data.properties)
    if kind == "point":
        lon, lat = _point_coords(data.geometries)
        x, y = proj.lonlat_to_l93(lon, lat)
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        order = np.argsort(x, kind="stable")
        return Layer(
            slug,
            data.revision,
            data.geometry_type,
            ids[order],
            props.take(order),
            x=x[order],
            y=y[order],
            lon=lon[order],
            lat=lat[order],
        )
    geoms = geojson_array_to_l93(data.geometries)
    return Layer(slug, data.revision, data.geometry_type, ids, props, geoms=geoms)


def _point_coords(geometries: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    n = len(geometries)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    for i, g in enumerate(geometries):
        if not g:
            continue
        if g["type"] == "Point":
            c = g["coordinates"]
        elif g["type"] == "MultiPoint" and g["coordinates"]:
            c = g["coordinates"][0]  # a multipoint site is located by its first point
        else:
            continue
        if c:
            lon[i] = c[0]
            lat[i] = c[1]
    return lon, lat


def geojson_array_to_l93(geometries: Sequence[dict[str, Any]]) -> np.ndarray:
    """WGS84 GeoJSON line/polygon dicts -> a shapely array in Lambert-93.

    Coordinates are gathered into one flat array, projected in a single pyproj call and turned
    into geometries with ``shapely.from_ragged_array``; it is an order of magnitude faster than
    ``shape()`` per feature. A layer that mixes single and multi parts is promoted to multi.
    """
    types = {g["type"] for g in geometries if g}
    n = len(geometries)
    if not types:
        return np.array([shapely.Polygon() for _ in range(n)], dtype=object)
    family = {geometry_kind(t) for t in types}
    if len(family) != 1 or types - {
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
    }:
        return _slow_geojson_to_l93(geometries)
    # A missing geometry becomes an empty multi-part, so any gap forces the multi type.
    multi = any(t.startswith("Multi") for t in types) or any(not g for g in geometries)
    kind = family.pop()
    # Normalise every feature to a list of parts, each part a list of rings (lines: one ring).
    coords: list[Any] = []
    ring_off = [0]
    part_off = [0]
    geom_off = [0]
    for g in geometries:
        if g:
            t = g["type"]
            c = g["coordinates"]
            if t == "LineString":
                parts = [[c]]
            elif t == "MultiLineString":
                parts = [[line] for line in c]
            elif t == "Polygon":
                parts = [c]
            else:
                parts = c
            for part in parts:
                for ring in part:
                    coords.extend(ring)
                    ring_off.append(len(coords))
                part_off.append(len(ring_off) - 1)
        geom_off.append(len(part_off) - 1)
    try:
        xy = np.asarray(coords, dtype=np.float64).reshape(len(coords), -1)[:, :2]
    except ValueError:  # mixed 2D/3D coordinates
        return _slow_geojson_to_l93(geometries)
    if len(xy):
        x, y = proj.transformer(proj.WGS84, proj.LAMBERT93).transform(xy[:, 0], xy[:, 1])
        xy = np.column_stack((x, y))
    r = np.asarray(ring_off, dtype=np.int64)
    p = np.asarray(part_off, dtype=np.int64)
    g_ = np.asarray(geom_off, dtype=np.int64)
    if kind == "line":
        if multi:
            out = shapely.from_ragged_array(shapely.GeometryType.MULTILINESTRING, xy, (r, g_))
        else:
            out = shapely.from_ragged_array(shapely.GeometryType.LINESTRING, xy, (r,))
    elif multi:
        out = shapely.from_ragged_array(shapely.GeometryType.MULTIPOLYGON, xy, (r, p, g_))
    else:
        out = shapely.from_ragged_array(shapely.GeometryType.POLYGON, xy, (r, p))
    return out  # type: ignore[no-any-return]


def _slow_geojson_to_l93(geometries: Sequence[dict[str, Any]]) -> np.ndarray:
    shapes = [proj.geojson_to_shape(g) if g else shapely.GeometryCollection() for g in geometries]
    arr = np.empty(len(shapes), dtype=object)
    arr[:] = shapes
    return proj.to_l93(arr)  # type: ignore[no-any-return]
