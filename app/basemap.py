"""Raster basemaps the territory supplies: MBTiles or PMTiles files declared in the catalogue.

The catalogue's top-level ``basemaps:`` list (:func:`parse_basemaps`) names each file::

    basemaps:
      - name: plan-caux-seine            # URL-safe name: /basemaps/<name>/<z>/<x>/<y>.<ext>
        title: "Plan IGN (export QGIS)"
        file: basemaps/plan.mbtiles      # relative to the catalogue's directory, or absolute
        format: mbtiles                  # or pmtiles (default: from the file's extension)
        attribution: "© IGN — Plan IGN v2"
        min_zoom: 8
        max_zoom: 16

The console serves the tiles itself (``app.web.basemaps``: read from the file, cached in this
process, ETag) under the interactive maps, and mosaics them — reprojected to the Lambert-93 frame
— under the printed map extracts (:meth:`Basemap.underlay`, used by ``app.geo.render``). Nothing
is ever fetched from elsewhere. The first basemap of the list is the one drawn; without any, the
outline basemap drawn from our own datasets stays.

PMTiles are read with the ``pmtiles`` package; MBTiles are SQLite (TMS rows, flipped here).
Only raster tiles (PNG, JPEG, WebP) are accepted.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import math
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import fr
from .catalogue import CatalogueError

log = logging.getLogger(__name__)

FORMATS = ("mbtiles", "pmtiles")
TILE_TYPES: dict[str, str] = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
MAX_ZOOM = 22
CACHE_BYTES = 64 * 1024 * 1024  # tiles kept in memory, all basemaps together
MERCATOR_HALF = 20037508.342789244  # EPSG:3857 half-width, metres
MAX_MOSAIC_TILES = 600
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class BasemapError(CatalogueError):
    """A refused basemap declaration or file (French message naming the entry and the file)."""


@dataclass(frozen=True)
class BasemapSpec:
    name: str
    title: str
    path: Path
    format: str
    attribution: str
    min_zoom: int
    max_zoom: int


def parse_basemaps(doc: Mapping[str, Any], base_dir: Path) -> list[BasemapSpec]:
    """The catalogue's top-level ``basemaps:`` list, validated (files are opened later)."""
    raw = doc.get("basemaps")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BasemapError("basemaps : une liste de fonds de carte est attendue")
    out: list[BasemapSpec] = []
    for i, entry in enumerate(raw):
        where = f"basemaps[{i}]"
        if not isinstance(entry, dict):
            raise BasemapError(f"{where} : un bloc (name, file…) est attendu")
        unknown = sorted(
            set(entry) - {"name", "title", "file", "format", "attribution", "min_zoom", "max_zoom"}
        )
        if unknown:
            keys = fr.plural(len(unknown), "clé inconnue", "clés inconnues")
            raise BasemapError(f"{where} : {keys} {', '.join(unknown)}")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise BasemapError(f"{where}.name : minuscules, chiffres et tirets attendus")
        where = f"basemaps[{i}] ({name})"
        if any(b.name == name for b in out):
            raise BasemapError(f"{where} : nom en double")
        file = entry.get("file")
        if not isinstance(file, str) or not file.strip():
            raise BasemapError(f"{where}.file : chemin du fichier MBTiles ou PMTiles manquant")
        path = Path(file)
        if not path.is_absolute():
            path = base_dir / path
        fmt = entry.get("format") or path.suffix.lower().lstrip(".")
        if fmt not in FORMATS:
            raise BasemapError(f"{where}.format : « {fmt} » inconnu ({', '.join(FORMATS)})")
        attribution = entry.get("attribution")
        if not isinstance(attribution, str) or not attribution.strip():
            raise BasemapError(f"{where}.attribution : la source du fond doit être citée")
        zooms = []
        for key, default in (("min_zoom", 0), ("max_zoom", MAX_ZOOM)):
            value = entry.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ZOOM:
                raise BasemapError(f"{where}.{key} : entier de 0 à {MAX_ZOOM} attendu")
            zooms.append(value)
        if zooms[0] > zooms[1]:
            raise BasemapError(f"{where} : min_zoom dépasse max_zoom")
        out.append(
            BasemapSpec(
                name=name,
                title=str(entry.get("title") or name),
                path=path,
                format=fmt,
                attribution=attribution.strip(),
                min_zoom=zooms[0],
                max_zoom=zooms[1],
            )
        )
    return out


# -- tile sources ----------------------------------------------------------------------------


class _MBTiles:
    """An MBTiles file (SQLite, TMS rows), read-only, shared by threads behind a lock."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.lock = threading.Lock()
        try:
            meta = dict(self.conn.execute("SELECT name, value FROM metadata").fetchall())
            self.conn.execute("SELECT 1 FROM tiles LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise BasemapError(f"{path} : pas un fichier MBTiles lisible ({exc})") from None
        fmt = str(meta.get("format", "png")).lower()
        self.tile_type = "jpg" if fmt == "jpeg" else fmt
        if self.tile_type not in TILE_TYPES:
            self.conn.close()
            raise BasemapError(f"{path} : tuiles « {fmt} » ; un fond raster (png, jpg, webp)")
        self.attribution = str(meta.get("attribution") or "")
        self.bounds = _bounds(meta.get("bounds"))

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        with self.lock:
            found = self.conn.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ?"
                " AND tile_row = ?",
                [z, x, (1 << z) - 1 - y],
            ).fetchone()
        return bytes(found[0]) if found else None


class _PMTiles:
    """A PMTiles v3 archive, memory-mapped, read with the ``pmtiles`` package."""

    _TYPES = {2: "png", 3: "jpg", 4: "webp"}

    def __init__(self, path: Path):
        from pmtiles.reader import MmapSource, Reader
        from pmtiles.tile import Compression

        # The mapping outlives the file object: no descriptor stays open.
        with path.open("rb") as f:
            try:
                self.reader = Reader(MmapSource(f))
                header = self.reader.header()
            except Exception as exc:
                raise BasemapError(f"{path} : pas une archive PMTiles v3 lisible ({exc})") from None
        if header.get("version") != 3:
            raise BasemapError(f"{path} : PMTiles version {header.get('version')}, v3 attendue")
        tile_type = getattr(header.get("tile_type"), "value", header.get("tile_type"))
        if tile_type not in self._TYPES:
            raise BasemapError(f"{path} : tuiles vectorielles ou inconnues ; un fond raster")
        self.tile_type = self._TYPES[int(tile_type)]
        self.gzip = header.get("tile_compression") == Compression.GZIP
        self.lock = threading.Lock()
        self.attribution = ""
        self.bounds = (
            header["min_lon_e7"] / 1e7,
            header["min_lat_e7"] / 1e7,
            header["max_lon_e7"] / 1e7,
            header["max_lat_e7"] / 1e7,
        )

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        with self.lock:
            data = self.reader.get(z, x, y)
        if data is None:
            return None
        return gzip.decompress(data) if self.gzip else bytes(data)


def _bounds(text: Any) -> tuple[float, float, float, float] | None:
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        return None
    return (values[0], values[1], values[2], values[3]) if len(values) == 4 else None


class _Cache:
    """Tiles in memory, least recently used out first, bounded in bytes (thread-safe)."""

    def __init__(self, limit: int = CACHE_BYTES):
        self.limit = limit
        self.size = 0
        self.items: OrderedDict[tuple[str, int, int, int], tuple[bytes, str] | None] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = 0

    def get(self, key: tuple[str, int, int, int]) -> tuple[bool, tuple[bytes, str] | None]:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                self.hits += 1
                return True, self.items[key]
            return False, None

    def put(self, key: tuple[str, int, int, int], value: tuple[bytes, str] | None) -> None:
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.size += len(value[0]) if value else 16
            while self.size > self.limit and self.items:
                _, old = self.items.popitem(last=False)
                self.size -= len(old[0]) if old else 16


_cache = _Cache()


@dataclass
class Basemap:
    """One declared basemap, its file open."""

    spec: BasemapSpec
    source: Any = field(repr=False)
    version: str = ""  # changes when the file changes: part of every ETag

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tile_type(self) -> str:
        return str(self.source.tile_type)

    @property
    def mimetype(self) -> str:
        return TILE_TYPES[self.tile_type]

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        b = self.source.bounds
        return tuple(b) if b else None  # type: ignore[return-value]

    def tile(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        """(bytes, ETag) of a tile, or None when the file has none there (cached either way)."""
        if not (self.spec.min_zoom <= z <= self.spec.max_zoom) or not (
            0 <= x < (1 << z) and 0 <= y < (1 << z)
        ):
            return None
        key = (f"{self.name}@{self.version}", z, x, y)
        found, value = _cache.get(key)
        if found:
            return value
        data = self.source.tile(z, x, y)
        value = None
        if data:
            etag = hashlib.blake2b(data, digest_size=12).hexdigest()
            value = (data, f"{self.version}-{etag}")
        _cache.put(key, value)
        return value

    def public(self, url: str) -> dict[str, Any]:
        """What a map page needs (Leaflet's tile layer options); ``url`` has {z}, {x}, {y}."""
        return {
            "name": self.name,
            "title": self.spec.title,
            "url": url,
            "attribution": self.spec.attribution,
            "minZoom": self.spec.min_zoom,
            "maxNativeZoom": self.spec.max_zoom,
            "bounds": list(self.bounds) if self.bounds else None,
        }

    # -- print ---------------------------------------------------------------------------

    def zoom_for(self, metres_per_pixel: float, latitude: float) -> int:
        """The tile zoom whose ground resolution is just finer than ``metres_per_pixel``."""
        ground = 2 * MERCATOR_HALF / 256 * math.cos(math.radians(latitude))
        z = math.ceil(math.log2(ground / max(metres_per_pixel, 0.01)))
        return max(self.spec.min_zoom, min(self.spec.max_zoom, z))

    def underlay(
        self, extent: tuple[float, float, float, float], width_px: int, height_px: int
    ) -> Any:
        """The basemap under a Lambert-93 ``extent``, as a ``width_px`` × ``height_px`` RGBA
        image (PIL): the tiles at the right zoom mosaicked and resampled to the frame
        (nearest neighbour: at print resolution a tile pixel is about one output pixel).
        None when the file has no tile there."""
        from PIL import Image
        from pyproj import Transformer

        x0, y0, x1, y1 = extent
        to_merc = Transformer.from_crs(2154, 3857, always_xy=True)
        to_lonlat = Transformer.from_crs(2154, 4326, always_xy=True)
        _, lat = to_lonlat.transform((x0 + x1) / 2, (y0 + y1) / 2)
        z = self.zoom_for((x1 - x0) / width_px, float(lat))
        # The extent's outline in Web Mercator gives the tile range.
        edge = np.linspace(0.0, 1.0, 21)
        ring_x = np.concatenate(
            [x0 + (x1 - x0) * edge, np.full(21, x1), x1 - (x1 - x0) * edge, np.full(21, x0)]
        )
        ring_y = np.concatenate(
            [np.full(21, y0), y0 + (y1 - y0) * edge, np.full(21, y1), y1 - (y1 - y0) * edge]
        )
        mx, my = to_merc.transform(ring_x, ring_y)
        while True:
            n = 1 << z
            span = 2 * MERCATOR_HALF / n
            tx0 = max(0, int((np.min(mx) + MERCATOR_HALF) // span))
            tx1 = min(n - 1, int((np.max(mx) + MERCATOR_HALF) // span))
            ty0 = max(0, int((MERCATOR_HALF - np.max(my)) // span))
            ty1 = min(n - 1, int((MERCATOR_HALF - np.min(my)) // span))
            count = (tx1 - tx0 + 1) * (ty1 - ty0 + 1)
            if count <= MAX_MOSAIC_TILES or z <= self.spec.min_zoom:
                break
            z -= 1
        tiles: dict[tuple[int, int], Any] = {}
        size = 256
        for tx in range(tx0, tx1 + 1):
            for ty in range(ty0, ty1 + 1):
                found = self.tile(z, tx, ty)
                if found is None:
                    continue
                try:
                    img = Image.open(io.BytesIO(found[0]))
                    img.load()
                except Exception:
                    log.warning("basemap %s: unreadable tile %s/%s/%s", self.name, z, tx, ty)
                    continue
                size = img.width
                tiles[(tx, ty)] = img.convert("RGBA")
        if not tiles:
            return None
        mosaic = Image.new("RGBA", ((tx1 - tx0 + 1) * size, (ty1 - ty0 + 1) * size))
        for (tx, ty), img in tiles.items():
            if img.size != (size, size):
                img = img.resize((size, size))
            mosaic.paste(img, ((tx - tx0) * size, (ty - ty0) * size))
        # Every output pixel's centre, Lambert-93 -> Web Mercator -> mosaic pixel. The
        # projection is exact on a grid every GRID_PX pixels and bilinear in between (the
        # difference is far below a pixel at any map scale; it is 50 times faster).
        mx, my = _merc_grid(to_merc, extent, width_px, height_px)
        pixel = span / size
        col = np.floor((mx.ravel() + MERCATOR_HALF) / pixel - tx0 * size).astype(np.int64)
        row = np.floor((MERCATOR_HALF - my.ravel()) / pixel - ty0 * size).astype(np.int64)
        src = np.asarray(mosaic)
        inside = (col >= 0) & (col < src.shape[1]) & (row >= 0) & (row < src.shape[0])
        out = np.zeros((width_px * height_px, 4), dtype=np.uint8)
        out[inside] = src[row[inside], col[inside]]
        image = Image.fromarray(out.reshape(height_px, width_px, 4), "RGBA")
        image.info["photo"] = self.tile_type != "png"  # JPEG/WebP tiles: imagery, print as JPEG
        return image


GRID_PX = 32


def _merc_grid(
    to_merc: Any, extent: tuple[float, float, float, float], width_px: int, height_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator coordinates of every output pixel centre (height_px × width_px arrays)."""
    x0, y0, x1, y1 = extent
    nx = max(2, math.ceil(width_px / GRID_PX) + 1)
    ny = max(2, math.ceil(height_px / GRID_PX) + 1)
    # Grid nodes span the pixel centres exactly, first to last.
    node_x = x0 + (0.5 + np.linspace(0, width_px - 1, nx)) * (x1 - x0) / width_px
    node_y = y1 - (0.5 + np.linspace(0, height_px - 1, ny)) * (y1 - y0) / height_px
    gx, gy = np.meshgrid(node_x, node_y)
    mx, my = (np.asarray(v).reshape(ny, nx) for v in to_merc.transform(gx, gy))
    u = np.linspace(0, nx - 1, width_px)
    v = np.linspace(0, ny - 1, height_px)
    out = []
    for grid in (mx, my):
        rows = np.array([np.interp(u, np.arange(nx), r) for r in grid])  # ny × width
        i0 = np.minimum(np.floor(v).astype(int), ny - 2)
        f = (v - i0)[:, None]
        out.append(rows[i0] * (1 - f) + rows[i0 + 1] * f)
    return out[0], out[1]


def open_basemap(spec: BasemapSpec) -> Basemap:
    """Open a declared basemap's file; BasemapError naming it when it cannot be used."""
    if not spec.path.is_file():
        raise BasemapError(f"fond « {spec.name} » : fichier introuvable ({spec.path})")
    source = _MBTiles(spec.path) if spec.format == "mbtiles" else _PMTiles(spec.path)
    st = spec.path.stat()
    version = hashlib.blake2b(
        f"{spec.path}:{st.st_size}:{st.st_mtime_ns}".encode(), digest_size=4
    ).hexdigest()
    return Basemap(spec, source, version)


@dataclass
class Library:
    """The basemaps of the catalogue that could be opened, and why the others could not."""

    basemaps: list[Basemap] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def get(self, name: str) -> Basemap | None:
        return next((b for b in self.basemaps if b.name == name), None)

    @property
    def default(self) -> Basemap | None:
        return self.basemaps[0] if self.basemaps else None


def load_library(catalogue_file: Path) -> Library:
    """Open every basemap the catalogue declares; a bad one is named in ``problems`` (logged)
    and left out, so the maps fall back to the outline basemap rather than fail."""
    import yaml

    lib = Library()
    if not catalogue_file.is_file():
        return lib
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(catalogue_file.read_text("utf-8"), Loader=loader) or {}
        specs = parse_basemaps(doc if isinstance(doc, dict) else {}, catalogue_file.parent)
    except (yaml.YAMLError, BasemapError) as exc:
        lib.problems.append(f"{catalogue_file} : {exc}")
        log.error("basemaps of %s refused: %s", catalogue_file, exc)
        return lib
    for spec in specs:
        try:
            lib.basemaps.append(open_basemap(spec))
        except BasemapError as exc:
            lib.problems.append(str(exc))
            log.error("basemap %s left out: %s", spec.name, exc)
    return lib
