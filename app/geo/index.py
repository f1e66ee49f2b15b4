"""In-memory spatial index of the catalogue's layers, in Lambert-93.

Data comes in through a loader callable (the catalogue owns the database); this module only
builds and caches the projected, indexed form, and what is computed from it (:attr:`memo`):

- point layers keep numpy float64 ``x``/``y`` arrays (Lambert-93), sorted by ``x`` so that a
  bounding box becomes a ``searchsorted`` slice plus a mask, and ``lon``/``lat`` for output;
- line and polygon layers keep a shapely array in Lambert-93 and an ``STRtree``; WGS84 output is
  re-projected on demand (the inverse Lambert-93 projection round-trips to well under a
  millimetre), so the GeoJSON dicts are not kept;
- ids and properties stay as stored: UTF-8 text in one buffer per layer (:class:`Texts`), each
  row's properties a JSON object decoded only when a row is read (:class:`PropertyTable`). One
  process holds every layer of a département: no per-feature object is kept.

A loader returns either :class:`LayerData` (GeoJSON dicts; tests and benchmarks) or
:class:`LayerRows`, the stored rows in chunks (``app.catalogue.layer_rows``): point coordinates
from the stored bounding-box columns, line and polygon geometries parsed from their GeoJSON
text with numpy (:func:`parse_geojson_texts`), so a build never makes one Python object per
coordinate and its peak memory stays close to what the layer keeps.

Layers are immutable once built: an analysis that holds a :class:`Layer` keeps a consistent
snapshot even if the dataset is rebuilt meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from app.geo import proj
from app.geo.memo import Memo

__all__ = [
    "Layer",
    "LayerData",
    "LayerRows",
    "PropertyTable",
    "RowChunk",
    "SpatialIndex",
    "Texts",
    "geometry_kind",
    "numbers",
    "parse_coordinates",
    "parse_geojson_texts",
    "split_geojson_text",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerData:
    """What a loader returns for one dataset: WGS84 GeoJSON geometries and their properties."""

    revision: int
    geometry_type: str
    ids: list[str]
    geometries: list[dict[str, Any]]
    properties: list[dict[str, Any]]


@dataclass
class RowChunk:
    """Some stored rows of one dataset, in the layer's order.

    ``ids`` and ``properties`` are the stored UTF-8 texts (properties: one JSON object each).
    Points give ``lon``/``lat``; lines and polygons give their GeoJSON text split by
    :func:`split_geojson_text` (``coordinates`` and ``geometry_types``).
    """

    ids: list[bytes]
    properties: list[bytes]
    lon: list[float] | None = None
    lat: list[float] | None = None
    coordinates: list[str] | None = None
    geometry_types: list[str] | None = None


@dataclass
class LayerRows:
    """What a streaming loader returns: the dataset's rows at one revision, in chunks.

    ``close`` is called once the chunks are consumed (or the build failed): it ends the read.
    """

    revision: int
    geometry_type: str
    count: int
    chunks: Iterable[RowChunk]
    close: Callable[[], None] = field(default=lambda: None)
    # What identifies this content of the dataset (its id, revision, last write, count): the
    # key of its layer file (LayerStore); "" when the rows must not be kept in a file.
    token: str = ""


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


# orjson reads an integer beyond 64 bits as a float: texts with such a long run of digits (or
# NaN, which it refuses) are read by the standard library, which keeps them exact. Digits are
# mapped to "0" and anything else to " " (bytes.translate, in C) to find a run of 19.
_DIGITS_ONLY = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19


def loads(raw: bytes | bytearray | memoryview) -> Any:
    """One stored JSON text -> Python: what ``json.loads`` gives, read by orjson when it can."""
    if len(raw) < 19 or _LONG_RUN not in bytes(raw).translate(_DIGITS_ONLY):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(bytes(raw))


def loads_many(raws: Sequence[bytes | bytearray | memoryview]) -> list[Any]:
    """Stored JSON texts -> Python, as :func:`loads` reads each: parsed as one JSON array."""
    if not raws:
        return []
    joined = b"[" + b",".join(raws) + b"]"
    if _LONG_RUN not in joined.translate(_DIGITS_ONLY):
        try:
            parsed = orjson.loads(joined)
            if len(parsed) == len(raws):
                return parsed  # type: ignore[no-any-return]
        except orjson.JSONDecodeError:
            pass
    return [loads(r) for r in raws]


# -- texts and properties --------------------------------------------------------------------


class Texts(Sequence[str]):
    """UTF-8 strings in one buffer with offsets, optionally seen through a row order.

    ``texts[i]`` is a ``str``; an index array gives an object array of ``str``. A layer's ids
    take ~20 bytes each this way, against ~100 for a fixed-width numpy array or a ``str``.
    """

    __slots__ = ("_buf", "_off", "_order")

    def __init__(
        self,
        buf: bytes | bytearray | memoryview,
        offsets: np.ndarray,
        order: np.ndarray | None = None,
    ) -> None:
        self._buf = buf
        self._off = offsets
        self._order = order

    @classmethod
    def from_strings(cls, values: Iterable[str]) -> Texts:
        builder = TextsBuilder()
        builder.add([v.encode("utf-8") for v in values])
        return builder.finish()

    def __len__(self) -> int:
        return len(self._order) if self._order is not None else len(self._off) - 1

    def _row(self, i: int) -> int:
        return int(self._order[i]) if self._order is not None else int(i)

    def raw(self, i: int) -> bytes | bytearray | memoryview:
        """The UTF-8 bytes of row ``i``."""
        j = self._row(i)
        return self._buf[int(self._off[j]) : int(self._off[j + 1])]

    def raw_many(self, idx: np.ndarray | Sequence[int]) -> list[bytes | bytearray | memoryview]:
        """The UTF-8 bytes of rows ``idx`` (offsets looked up with numpy, all at once)."""
        rows = np.asarray(idx, dtype=np.int64)
        if self._order is not None:
            rows = self._order[rows]
        starts = self._off[rows].tolist()
        ends = self._off[rows + 1].tolist()
        buf = self._buf
        return [buf[a:b] for a, b in zip(starts, ends, strict=True)]

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if isinstance(i, int | np.integer):
            n = len(self)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(i)
            return str(self.raw(int(i)), "utf-8")
        idx = np.asarray(i)
        if idx.dtype == bool:
            idx = np.nonzero(idx)[0]
        out = np.empty(len(idx), dtype=object)
        out[:] = [str(r, "utf-8") for r in self.raw_many(idx)]
        return out

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self)):
            yield str(self.raw(i), "utf-8")

    def parts(self) -> tuple[bytes | bytearray | memoryview, np.ndarray, np.ndarray | None]:
        """Buffer, offsets and row order (what a layer file keeps)."""
        return self._buf, self._off, self._order

    def take(self, order: np.ndarray) -> Texts:
        """The same buffer seen in ``order`` (no copy of the text)."""
        order = np.asarray(order)
        composed = self._order[order] if self._order is not None else order
        return Texts(self._buf, self._off, composed)

    @property
    def nbytes(self) -> int:
        n = len(self._buf) + self._off.nbytes
        return n + (self._order.nbytes if self._order is not None else 0)


class TextsBuilder:
    """Appends chunks of UTF-8 byte strings into one growing buffer."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._lengths: list[np.ndarray] = []

    def add(self, values: Sequence[bytes]) -> None:
        self._buf += b"".join(values)
        self._lengths.append(np.fromiter(map(len, values), dtype=np.int64, count=len(values)))

    def finish(self) -> Texts:
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Texts(self._buf, offsets)


class PropertyTable(Sequence[dict[str, Any]]):
    """Feature properties kept as their stored JSON text, decoded only for the rows read.

    Reads as a list of dicts (``table[i]``); :meth:`columns` and :meth:`column` decode the rows
    ``idx`` once and give one object array per key, :meth:`numeric` a float64 array.
    """

    __slots__ = ("_texts",)

    def __init__(self, texts: Texts) -> None:
        self._texts = texts

    @classmethod
    def from_dicts(cls, rows: Sequence[dict[str, Any]]) -> PropertyTable:
        builder = TextsBuilder()
        builder.add([_encode_properties(r) for r in rows])
        return cls(builder.finish())

    def __len__(self) -> int:
        return len(self._texts)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        row: dict[str, Any] = loads(self._texts.raw(int(i)))
        return row

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield loads(self._texts.raw(i))

    def rows(self, idx: np.ndarray | Sequence[int] | None = None) -> list[dict[str, Any]]:
        """The decoded rows ``idx`` (all by default)."""
        many = self._texts.raw_many(np.arange(len(self)) if idx is None else idx)
        return loads_many(many)

    def columns(
        self, keys: Sequence[str], default: Any = None, idx: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """For each key, the values of rows ``idx`` (object arrays), missing ones as ``default``."""
        decoded = self.rows(idx)
        out: dict[str, np.ndarray] = {}
        for key in keys:
            col = np.empty(len(decoded), dtype=object)
            col[:] = [r.get(key, default) for r in decoded]
            out[key] = col
        return out

    def column(self, key: str, default: Any = None, idx: np.ndarray | None = None) -> np.ndarray:
        """Column ``key`` (rows ``idx``, default all), missing values as ``default``."""
        return self.columns((key,), default, idx)[key]

    def numeric(self, key: str, idx: np.ndarray | None = None) -> np.ndarray:
        """Column ``key`` (rows ``idx``) as float64, non-numeric or missing values as 0."""
        return numbers(r.get(key) for r in self.rows(idx))

    def take(self, order: np.ndarray) -> PropertyTable:
        """A new table with rows in ``order``."""
        return PropertyTable(self._texts.take(order))

    @property
    def texts(self) -> Texts:
        """The JSON texts, one per row."""
        return self._texts

    @property
    def nbytes(self) -> int:
        """Memory held by the table (text buffer and offsets)."""
        return self._texts.nbytes


_PROPS_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _encode_properties(row: dict[str, Any]) -> bytes:
    return _PROPS_JSON.encode(row).encode("utf-8")


def numbers(values: Iterable[Any]) -> np.ndarray:
    """Property values as float64: numbers as they are, anything else (bools too) as 0."""
    return np.fromiter(map(_to_float, values), dtype=np.float64)


def _to_float(v: Any) -> float:
    if isinstance(v, bool) or v is None:
        return 0.0
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


# -- layers ----------------------------------------------------------------------------------


class Layer:
    """One dataset, projected to Lambert-93 and indexed. Immutable once built."""

    def __init__(
        self,
        slug: str,
        revision: int,
        geometry_type: str,
        ids: Texts | Sequence[str],
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
        self.ids = ids if isinstance(ids, Texts) else Texts.from_strings(ids)
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

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays and texts (GEOS geometries and the tree not counted)."""
        arrays = (self.x, self.y, self.lon, self.lat, self.geoms)
        return (
            self.ids.nbytes
            + self.properties.nbytes
            + sum(a.nbytes for a in arrays if a is not None)
        )

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


Loader = Callable[[str], "LayerData | LayerRows"]
RevisionOf = Callable[[str], int]


class LayerFiles(Protocol):
    """Where built layers are kept between starts (``app.geo.store.LayerStore``)."""

    def load(self, slug: str, token: str) -> Layer | None: ...

    def save_later(self, layer: Layer, token: str) -> Any: ...


class SpatialIndex:
    """Lazily built, revision-checked cache of :class:`Layer` objects, safe across threads.

    ``layer(slug, revision)`` builds a layer on first use and rebuilds it when the revision the
    caller read (its request's snapshot of the catalogue) differs from the built one; without a
    revision it asks ``revision_of(slug)`` when given, else keeps the layer until
    ``invalidate(slug)``. Only one thread builds a given slug at a time; the others wait for it
    and share the result, while layers of other slugs are served meanwhile. :meth:`warm` builds
    a list of layers in a background thread (server start). :attr:`memo` keeps results computed
    from the layers (the impact analyses), keyed by what they depend on.
    """

    def __init__(
        self,
        loader: Loader,
        revision_of: RevisionOf | None = None,
        *,
        memo: Memo | None = None,
        files: LayerFiles | None = None,
    ) -> None:
        self._loader = loader
        self.files = files
        self._revision_of = revision_of
        self._layers: dict[str, Layer] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.builds = 0  # number of layer builds, for tests and monitoring
        self.memo = memo if memo is not None else Memo()
        self.building: set[str] = set()  # slugs being built right now
        self.warming: threading.Thread | None = None

    def _lock_for(self, slug: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(slug)
            if lock is None:
                lock = self._locks[slug] = threading.Lock()
            return lock

    def _fresh(self, slug: str, revision: int | None) -> Layer | None:
        layer = self._layers.get(slug)
        if layer is None:
            return None
        if revision is None and self._revision_of is not None:
            revision = self._revision_of(slug)
        if revision is not None and revision != layer.revision:
            return None
        return layer

    def layer(self, slug: str, revision: int | None = None) -> Layer:
        """The indexed layer ``slug`` at ``revision`` (when given), built or rebuilt if needed."""
        layer = self._fresh(slug, revision)
        if layer is not None:
            return layer
        with self._lock_for(slug):
            layer = self._fresh(slug, revision)  # another thread may have built it meanwhile
            if layer is None:
                with self._guard:
                    self.building.add(slug)
                try:
                    layer = self._build(slug)
                finally:
                    with self._guard:
                        self.building.discard(slug)
                    _release_freed_memory()
                with self._guard:
                    self._layers[slug] = layer
                    self.builds += 1
            return layer

    def _build(self, slug: str) -> Layer:
        data = self._loader(slug)
        token = data.token if isinstance(data, LayerRows) else ""
        if self.files is not None and token:
            kept = self.files.load(slug, token)
            if kept is not None:
                assert isinstance(data, LayerRows)
                data.close()
                return kept
        layer = build_layer(slug, data)
        if self.files is not None and token:
            self.files.save_later(layer, token)
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

    def warm(self, layers: Sequence[tuple[str, int | None]]) -> threading.Thread:
        """Build ``(slug, revision)`` layers one after the other in a daemon thread.

        Requests are served meanwhile: one that needs a layer being built waits for that layer
        only, and builds a layer the thread has not reached yet itself.
        """

        def run() -> None:
            started = time.perf_counter()
            for slug, revision in layers:
                try:
                    self.layer(slug, revision)
                except Exception:  # one bad dataset must not stop the others
                    log.exception("background build of layer %s failed", slug)
            log.info(
                "spatial index: %d layers ready in %.1f s",
                len(layers),
                time.perf_counter() - started,
            )

        thread = threading.Thread(target=run, name="spatial-index-warm", daemon=True)
        self.warming = thread
        thread.start()
        return thread


# -- building --------------------------------------------------------------------------------


def _release_freed_memory() -> None:
    """Give the build's freed memory back to the system (glibc keeps it otherwise)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def build_layer(slug: str, data: LayerData | LayerRows) -> Layer:
    """Project and index one loader result."""
    if isinstance(data, LayerRows):
        try:
            return _build_from_rows(slug, data)
        finally:
            data.close()
    n = len(data.ids)
    if len(data.geometries) != n or len(data.properties) != n:
        raise ValueError(f"{slug}: ids, geometries and properties differ in length")
    kind = geometry_kind(data.geometry_type)
    ids = Texts.from_strings(data.ids)
    props = PropertyTable.from_dicts(data.properties)
    if kind == "point":
        lon, lat = _point_coords(data.geometries)
        return _point_layer(slug, data.revision, data.geometry_type, ids, props, lon, lat)
    geoms = geojson_array_to_l93(data.geometries)
    return Layer(slug, data.revision, data.geometry_type, ids, props, geoms=geoms)


def _point_layer(
    slug: str,
    revision: int,
    geometry_type: str,
    ids: Texts,
    props: PropertyTable,
    lon: np.ndarray,
    lat: np.ndarray,
) -> Layer:
    x, y = proj.lonlat_to_l93(lon, lat)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    if len(order) < 2**31:
        order = order.astype(np.int32)
    return Layer(
        slug,
        revision,
        geometry_type,
        ids.take(order),
        props.take(order),
        x=x[order],
        y=y[order],
        lon=lon[order],
        lat=lat[order],
    )


def _build_from_rows(slug: str, data: LayerRows) -> Layer:
    kind = geometry_kind(data.geometry_type)
    ids = TextsBuilder()
    props = TextsBuilder()
    if kind == "point":
        lon = np.empty(data.count, dtype=np.float64)
        lat = np.empty(data.count, dtype=np.float64)
        n = 0
        for chunk in data.chunks:
            assert chunk.lon is not None and chunk.lat is not None
            k = len(chunk.ids)
            if n + k > data.count:
                raise ValueError(f"{slug}: more rows than counted")
            lon[n : n + k] = chunk.lon
            lat[n : n + k] = chunk.lat
            ids.add(chunk.ids)
            props.add(chunk.properties)
            n += k
        if n != data.count:
            raise ValueError(f"{slug}: {n} rows read, {data.count} counted")
        table = PropertyTable(props.finish())
        return _point_layer(slug, data.revision, data.geometry_type, ids.finish(), table, lon, lat)
    parts: list[np.ndarray] = []
    for chunk in data.chunks:
        assert chunk.coordinates is not None and chunk.geometry_types is not None
        parts.append(parse_coordinates(chunk.coordinates, chunk.geometry_types, kind))
        ids.add(chunk.ids)
        props.add(chunk.properties)
    geoms = _same_family(parts, kind)
    table = PropertyTable(props.finish())
    return Layer(slug, data.revision, data.geometry_type, ids.finish(), table, geoms=geoms)


def _point_coords(geometries: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    n = len(geometries)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    for i, g in enumerate(geometries):
        c = first_point(g)
        if c is not None:
            lon[i], lat[i] = c
    return lon, lat


def first_point(g: dict[str, Any] | None) -> tuple[float, float] | None:
    """Where a point feature is: a Point's coordinates, a MultiPoint's first point, else None."""
    if not g:
        return None
    if g.get("type") == "Point":
        c = g.get("coordinates")
    elif g.get("type") == "MultiPoint" and g.get("coordinates"):
        c = g["coordinates"][0]  # a multipoint site is located by its first point
    else:
        return None
    if not c:
        return None
    return float(c[0]), float(c[1])


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
    return _ragged_to_l93(
        kind,
        multi,
        xy,
        np.asarray(ring_off, dtype=np.int64),
        np.asarray(part_off, dtype=np.int64),
        np.asarray(geom_off, dtype=np.int64),
    )


def _ragged_to_l93(
    kind: str, multi: bool, xy: np.ndarray, r: np.ndarray, p: np.ndarray, g_: np.ndarray
) -> np.ndarray:
    """Project WGS84 coordinates and build geometries from normalised offsets.

    ``r``: ring starts (into coordinates), ``p``: part starts (into rings), ``g_``: geometry
    starts (into parts), each ending with the total; lines have one ring per part.
    """
    if len(xy):
        x, y = proj.transformer(proj.WGS84, proj.LAMBERT93).transform(xy[:, 0], xy[:, 1])
        xy = np.column_stack((x, y))
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


# -- GeoJSON text -> geometries, with numpy ----------------------------------------------------

_PREFIX = '{"coordinates":'
_TYPE_SEP = ',"type":"'
_DEPTH = {"LineString": 2, "MultiLineString": 3, "Polygon": 3, "MultiPolygon": 4}
_TYPES = {"line": ("LineString", "MultiLineString"), "polygon": ("Polygon", "MultiPolygon")}
# Bytes a coordinates array of stored GeoJSON may hold: brackets, commas, numbers, blanks.
_ALLOWED = b"[],0123456789+-.eE \t\r\n"
_BLANK_SEPARATORS = bytes.maketrans(b"[],", b"   ")


def split_geojson_text(text: str) -> tuple[str, str]:
    """``{"coordinates":C,"type":"T"}`` (how the catalogue stores a geometry) -> ``(C, T)``.

    Any other text gives ``(text, "")``: it is then read as JSON.
    """
    if text.startswith(_PREFIX) and text.endswith('"}'):
        cut = text.find(_TYPE_SEP)
        if cut > 0:
            return text[len(_PREFIX) : cut], text[cut + len(_TYPE_SEP) : -2]
    return text, ""


def parse_geojson_texts(texts: Sequence[str], kind: str) -> np.ndarray:
    """WGS84 GeoJSON geometry texts (lines or polygons) -> a Lambert-93 shapely array."""
    split = [split_geojson_text(t) for t in texts]
    return parse_coordinates([c for c, _ in split], [t for _, t in split], kind)


def parse_coordinates(coordinates: Sequence[str], types: Sequence[str], kind: str) -> np.ndarray:
    """Stored geometries, split by :func:`split_geojson_text`, -> a Lambert-93 shapely array.

    ``coordinates[i]`` is the coordinates member of a geometry of type ``types[i]``; where the
    type is not a ``kind`` type (``""``: the text was not in the stored form) it is the whole
    GeoJSON text. Coordinates are parsed with numpy: the bracket structure gives the ragged
    offsets and ``np.fromstring`` reads every number at once (the C library's ``strtod``,
    correctly rounded like Python's ``float``). Other texts go through ``json`` and
    :func:`geojson_array_to_l93`; the result is the same either way. Single and multi
    geometries in one call come out as multi.
    """
    n = len(coordinates)
    known = _TYPES[kind]
    distinct = set(types)
    groups: dict[str, list[int]] = {}
    slow: list[int] = []
    if len(distinct) == 1 and types and types[0] in known:
        groups[types[0]] = list(range(n))
    else:
        for i, t in enumerate(types):
            if t in known:
                groups.setdefault(t, []).append(i)
            else:
                slow.append(i)
    multi = bool(slow) or any(t.startswith("Multi") for t in groups)
    out = np.empty(n, dtype=object)
    for gtype, members in groups.items():
        bodies = coordinates if len(members) == n else [coordinates[i] for i in members]
        geoms = _parse_group(bodies, gtype, kind, multi)
        if geoms is None:
            slow.extend(members)
        elif len(members) == n:
            out = geoms
        else:
            out[members] = geoms
    if slow:
        slow.sort()
        texts = [
            coordinates[i]
            if types[i] not in known
            else f'{{"coordinates":{coordinates[i]},"type":"{types[i]}"}}'
            for i in slow
        ]
        parsed = [json.loads(t) for t in texts]
        empty = shapely.from_wkt(
            "MULTILINESTRING EMPTY" if kind == "line" else "MULTIPOLYGON EMPTY"
        )
        present = [k for k, g in enumerate(parsed) if g]
        for k, g in enumerate(parsed):
            if not g:  # a missing geometry: an empty multi-part, as in geojson_array_to_l93
                out[slow[k]] = empty
        if present:
            out[[slow[k] for k in present]] = geojson_array_to_l93([parsed[k] for k in present])
        return _same_family([out], kind)
    return out


def _parse_group(bodies: Sequence[str], gtype: str, kind: str, multi: bool) -> np.ndarray | None:
    """Coordinates arrays of one geometry type -> geometries, or None to take the slow path."""
    try:
        raw = "".join(bodies).encode("ascii")
    except UnicodeEncodeError:
        return None
    if raw.translate(None, _ALLOWED):
        return None
    depth_total = _DEPTH[gtype]
    b = np.frombuffer(raw, dtype=np.uint8)
    bracket_pos = np.flatnonzero((b == 91) | (b == 93))  # [ ]
    if len(bracket_pos) == 0:
        return None
    step = np.where(b[bracket_pos] == 91, 1, -1).astype(np.int64)
    level = np.cumsum(step)  # depth after each bracket
    if level[-1] != 0 or level.min() < 0 or level.max() > depth_total:
        return None
    is_open = step > 0
    open_pos = bracket_pos[is_open]
    open_level = level[is_open]
    by_level = [open_pos[open_level == k] for k in range(1, depth_total + 1)]
    if len(by_level[0]) != len(bodies):
        return None
    coords_pos = by_level[-1]
    # Numbers per coordinate: commas at the coordinate's depth, plus one.
    comma_pos = np.flatnonzero(b == 44)
    before = np.searchsorted(bracket_pos, comma_pos) - 1
    comma_level = np.where(before >= 0, level[np.maximum(before, 0)], 0)
    inner = comma_pos[comma_level == depth_total]
    per_coord = np.diff(np.searchsorted(inner, np.append(coords_pos, len(b)))) + 1
    if len(per_coord) and (per_coord.min() != per_coord.max() or per_coord[0] < 2):
        return None
    dims = int(per_coord[0]) if len(per_coord) else 2
    try:
        values = np.fromstring(raw.translate(_BLANK_SEPARATORS), dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None
    if len(values) != dims * len(coords_pos):
        return None
    xy = values.reshape(len(coords_pos), dims)[:, :2]
    geoms_pos = by_level[0]
    if gtype == "LineString":
        rings_pos = parts_pos = geoms_pos
    elif gtype == "MultiLineString" or gtype == "Polygon":
        rings_pos = by_level[1]
        parts_pos = by_level[1] if gtype == "MultiLineString" else geoms_pos
    else:  # MultiPolygon
        rings_pos = by_level[2]
        parts_pos = by_level[1]
    r = np.append(np.searchsorted(coords_pos, rings_pos), len(coords_pos))
    p = np.append(np.searchsorted(rings_pos, parts_pos), len(rings_pos))
    g_ = np.append(np.searchsorted(parts_pos, geoms_pos), len(parts_pos))
    return _ragged_to_l93(kind, multi, xy, r, p, g_)


def _same_family(parts: list[np.ndarray], kind: str) -> np.ndarray:
    """Concatenate geometry arrays; promote single geometries to multi when both are present."""
    geoms = np.concatenate(parts) if len(parts) != 1 else parts[0]
    if len(geoms) == 0:
        return geoms
    types = shapely.get_type_id(geoms)
    multi_id = 5 if kind == "line" else 6
    single_id = 1 if kind == "line" else 3
    has_multi = bool((types == multi_id).any())
    singles = np.flatnonzero(types == single_id)
    if not has_multi or len(singles) == 0:
        return geoms
    make = shapely.multilinestrings if kind == "line" else shapely.multipolygons
    geoms = geoms.copy()
    for i in singles:
        geoms[i] = make([geoms[i]])
    return geoms
