"""GIS files through pyogrio (GDAL): GeoPackage, Shapefile, FlatGeobuf, GeoJSONSeq, OSM PBF.

Reading is a *source* for the one import pipeline (:mod:`app.imports`): it yields GeoJSON-like
features in WGS84 that the same :class:`~app.imports.Validator` checks and the same
:func:`~app.catalogue.write_features` stores. Features are read in Arrow batches
(``pyogrio.raw.open_arrow``), so memory stays bounded whatever the file's size; geometries are
reprojected a batch at a time from the layer's CRS (the ``.prj`` of a Shapefile, the GeoPackage's
``srs_id``, …) to WGS84.

Writing a GeoPackage (``export --format gpkg``) goes the other way, a batch at a time too.
"""

from __future__ import annotations

import json
import math
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry import shape

from .geo import proj
from .records import Dataset

# Our format names → GDAL drivers.
DRIVERS = {
    "gpkg": "GPKG",
    "shp": "ESRI Shapefile",
    "fgb": "FlatGeobuf",
    "osm": "OSM",
    "geojsonseq": "GeoJSONSeq",
}
SEQ_SUFFIXES = (".geojsonl", ".geojsons", ".geojsonseq", ".ndjson", ".jsonl")
BATCH = 5000
OSM_LAYER = "lines"
OSM_SOURCE = "OpenStreetMap (© contributeurs OSM, ODbL)"

# OSM highway classes → the roads dataset's `kind`. Classes absent here (footways, paths,
# tracks, service aisles, construction…) are not roads a crisis cell closes: they are skipped.
OSM_KINDS = {
    "motorway": "motorway",
    "motorway_link": "motorway",
    "trunk": "primary",
    "trunk_link": "primary",
    "primary": "primary",
    "primary_link": "primary",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "tertiary": "tertiary",
    "tertiary_link": "tertiary",
    "unclassified": "local",
    "residential": "local",
    "living_street": "local",
    "road": "local",
}
# A bridge on a major road is a `bridge` (the cell's closure points of choice), as in the demo.
OSM_BRIDGE_CLASSES = {"motorway", "trunk", "primary"}
OSM_CLASS_LABELS = {
    "motorway": "Autoroute",
    "primary": "Route principale",
    "secondary": "Route secondaire",
    "tertiary": "Route tertiaire",
    "local": "Voie",
}


class GisFileError(ValueError):
    """The file cannot be read; the French message names the file's fault."""


def detect(path: Path) -> str | None:
    """Our format name from the file's extension (None when it is not a GIS container)."""
    name = path.name.lower()
    if name.endswith((".osm.pbf", ".pbf", ".osm")):
        return "osm"
    if name.endswith(SEQ_SUFFIXES):
        return "geojsonseq"
    suffix = path.suffix.lower()
    return {".gpkg": "gpkg", ".zip": "shp", ".shp": "shp", ".fgb": "fgb"}.get(suffix)


def _gdal_detail(exc: BaseException) -> str:
    text = str(exc).strip().split("\n")[0]
    text = re.sub(r"/vsizip/", "", text)
    if len(text) > 160:
        text = text[:159] + "…"
    return text or type(exc).__name__


def _first_line(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(16)


def source_path(path: Path, fmt: str) -> str:
    """What GDAL opens: a zipped Shapefile is read in place through /vsizip/."""
    if fmt == "shp" and path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError) as exc:
            raise GisFileError(f"archive ZIP illisible ({exc})") from None
        if bad is not None:
            raise GisFileError(f"archive ZIP corrompue (membre « {bad} »)")
        shps = [n for n in names if n.lower().endswith(".shp")]
        if not shps:
            listed = ", ".join(names[:8]) or "archive vide"
            raise GisFileError(f"l'archive ne contient aucun fichier .shp ({listed})")
        for shp in shps:
            stem = shp[:-4]
            for ext in (".shx", ".dbf"):
                if not any(n.lower() == (stem + ext).lower() for n in names):
                    raise GisFileError(
                        f"« {shp} » sans son fichier {ext} dans l'archive"
                        " (un Shapefile se livre avec .shp, .shx, .dbf et .prj)"
                    )
        return f"/vsizip/{path}"
    if fmt == "shp" and path.suffix.lower() == ".shp":
        for ext in (".shx", ".dbf"):
            if not path.with_suffix(ext).exists() and not path.with_suffix(ext.upper()).exists():
                raise GisFileError(
                    f"fichier {path.stem}{ext} absent à côté du .shp"
                    " (un Shapefile se livre avec .shp, .shx, .dbf et .prj)"
                )
    if fmt == "gpkg" and _first_line(path)[:15] != b"SQLite format 3":
        raise GisFileError("ce n'est pas un GeoPackage (fichier SQLite attendu)")
    if fmt == "fgb" and _first_line(path)[:3] != b"fgb":
        raise GisFileError("ce n'est pas un FlatGeobuf (signature « fgb » absente)")
    return str(path)


@dataclass
class Layer:
    """An opened layer: what pyogrio's read_info says of it, and how to reproject it."""

    source: str
    fmt: str
    name: str
    fields: list[str]
    geometry_type: str | None
    count: int  # -1 when unknown (OSM)
    crs: pyproj.CRS | None
    encoding: str | None
    fid_column: str
    notes: list[str] = field(default_factory=list)

    def transform(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Coordinates function to WGS84, None when the layer is in WGS84 already."""
        if self.crs is None:
            return None
        epsg = self.crs.to_epsg(min_confidence=70)
        if epsg == proj.WGS84:
            return None
        tr = (
            proj.transformer(epsg, proj.WGS84)
            if epsg is not None
            else pyproj.Transformer.from_crs(self.crs, proj.WGS84, always_xy=True)
        )

        def func(coords: np.ndarray) -> np.ndarray:
            x, y = tr.transform(coords[:, 0], coords[:, 1])
            return np.column_stack((x, y))

        return func

    @property
    def crs_label(self) -> str:
        if self.crs is None:
            return "EPSG:4326"
        epsg = self.crs.to_epsg(min_confidence=70)
        return f"EPSG:{epsg}" if epsg else (self.crs.name or "WKT")


def _pyogrio() -> Any:
    import pyogrio

    return pyogrio


def layers_of(source: str) -> list[tuple[str, str | None]]:
    """(name, geometry type) of every layer of a data source."""
    pyogrio = _pyogrio()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(str(n), None if g is None else str(g)) for n, g in pyogrio.list_layers(source)]


def open_layer(
    path: Path,
    fmt: str,
    layer: str | None,
    *,
    crs: int | None = None,
    encoding: str | None = None,
) -> Layer:
    """Open the layer to import; GisFileError naming the fault (layers listed when asked)."""
    pyogrio = _pyogrio()
    source = source_path(path, fmt)
    try:
        found = layers_of(source)
    except Exception as exc:
        raise GisFileError(_open_message(fmt, exc)) from None
    names = [n for n, _ in found]
    if not found:
        raise GisFileError("aucune couche lisible : fichier corrompu ou d'un autre format")
    if fmt == "osm":
        layer = layer or OSM_LAYER
    if layer is None:
        spatial = [n for n, g in found if g is not None]
        if len(found) == 1:
            layer = names[0]
        elif len(spatial) == 1 and fmt != "gpkg":
            layer = spatial[0]
        else:
            raise GisFileError(
                f"le fichier contient {len(found)} couches ({', '.join(names)}) :"
                " choisissez-en une avec --layer (ou le champ « Couche »)"
            )
    if layer not in names:
        raise GisFileError(f"couche « {layer} » absente (couches : {', '.join(names) or 'aucune'})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = pyogrio.read_info(source, layer=layer, encoding=encoding)
    except Exception as exc:
        raise GisFileError(f"couche « {layer} » illisible ({_gdal_detail(exc)})") from None
    geometry_type = info.get("geometry_type")
    if geometry_type is None:
        raise GisFileError(f"couche « {layer} » sans géométrie (table attributaire seule)")
    notes: list[str] = []
    layer_crs: pyproj.CRS | None = None
    if crs is not None:
        layer_crs = pyproj.CRS.from_epsg(crs)
    elif info.get("crs"):
        try:
            layer_crs = pyproj.CRS.from_user_input(info["crs"])
        except pyproj.exceptions.CRSError:
            raise GisFileError(
                f"couche « {layer} » : système de coordonnées illisible ({str(info['crs'])[:80]}) ;"
                " indiquez-le avec --crs"
            ) from None
    else:
        notes.append("pas de système de coordonnées déclaré (.prj absent) : WGS84 supposé")
    return Layer(
        source=source,
        fmt=fmt,
        name=layer,
        fields=[str(f) for f in info.get("fields", [])],
        geometry_type=str(geometry_type),
        count=int(info.get("features", -1)),
        crs=layer_crs,
        encoding=encoding or info.get("encoding"),
        fid_column=str(info.get("fid_column") or ""),
        notes=notes,
    )


def _open_message(fmt: str, exc: BaseException) -> str:
    full = str(exc)
    detail = _gdal_detail(exc)
    if ".shx" in full.lower() or "SHAPE_RESTORE_SHX" in full:
        return "fichier .shx absent ou illisible (l'index du Shapefile) : livrez .shp, .shx, .dbf"
    if "malformed" in full or "not a database" in full:
        return "fichier corrompu ou tronqué (SQLite : « database disk image is malformed »)"
    if "not recognized" in full:
        kind = {"gpkg": "GeoPackage", "shp": "Shapefile", "fgb": "FlatGeobuf", "osm": "OSM"}
        return f"format non reconnu : ce n'est pas un {kind.get(fmt, fmt)} lisible ({detail})"
    return f"fichier illisible ({detail})"


def _plain(value: Any) -> Any:
    """A value from Arrow as a JSON-storable Python value."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


_SIMPLE = (str, int, float, bool, type(None))


def _column_values(
    column: Any, name: str, encoding_hint: str | None, bad: dict[int, str]
) -> list[Any]:
    """A column as Python values; text that is not valid UTF-8 is named row by row in ``bad``."""
    import pyarrow as pa

    try:
        values = column.to_pylist()
    except UnicodeDecodeError:
        values = []
        for i, raw in enumerate(column.cast(pa.binary()).to_pylist()):
            if raw is None:
                values.append(None)
                continue
            try:
                values.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(None)
                bad.setdefault(
                    i,
                    f"champ « {name} » : texte illisible en {encoding_hint or 'UTF-8'}"
                    f" ({raw[:30]!r}) ; indiquez l'encodage du fichier avec --encoding"
                    " (ex. ISO-8859-1) ou corrigez son fichier .cpg",
                )
        return values
    if values and not all(type(v) in _SIMPLE for v in values[:1]):
        values = [_plain(v) for v in values]
    return values


def _hstore(text: str | None) -> dict[str, str]:
    """GDAL's OSM `other_tags` ("ref"=>"D 982","bridge"=>"yes") as a dict."""
    if not text:
        return {}
    return {
        m.group(1).replace('\\"', '"'): m.group(2).replace('\\"', '"')
        for m in re.finditer(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"', text)
    }


@dataclass
class ReadState:
    """What reading learnt beyond the features: skipped counts, notes."""

    skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    read: int = 0

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1


def read_features(
    layer: Layer,
    *,
    report: Callable[[str, str], None],
    state: ReadState,
    extent: tuple[float, float, float, float],
    batch_size: int = BATCH,
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, feature) of every feature, in WGS84; unreadable values reported in place."""
    from pyogrio import raw

    kwargs: dict[str, Any] = {"layer": layer.name, "batch_size": batch_size}
    if layer.encoding and layer.encoding.upper().replace("-", "") not in ("UTF8",):
        kwargs["encoding"] = layer.encoding
    if layer.fmt == "osm":
        kwargs["where"] = "highway IS NOT NULL"
        kwargs["bbox"] = extent
        kwargs["encoding"] = None
    if layer.fid_column:
        kwargs["return_fids"] = True
    transform = layer.transform()
    osm = layer.fmt == "osm"
    index = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with raw.open_arrow(layer.source, use_pyarrow=True, **kwargs) as (meta, reader):
                geometry_name = meta.get("geometry_name") or "wkb_geometry"
                for batch in reader:
                    yield from _batch_features(
                        batch, layer, geometry_name, index, transform, osm, report, state, extent
                    )
                    index += batch.num_rows
                    state.read = index
                    if on_batch is not None:
                        on_batch(batch.num_rows)
        except GisFileError:
            raise
        except Exception as exc:
            raise GisFileError(
                f"couche « {layer.name} », après l'entité {index - 1 if index else 0} :"
                f" lecture interrompue, fichier corrompu ou tronqué ({_gdal_detail(exc)})"
            ) from None


def _batch_features(
    batch: Any,
    layer: Layer,
    geometry_name: str,
    start: int,
    transform: Callable[[np.ndarray], np.ndarray] | None,
    osm: bool,
    report: Callable[[str, str], None],
    state: ReadState,
    extent: tuple[float, float, float, float],
) -> Iterator[tuple[str, dict[str, Any]]]:
    names = batch.schema.names
    bad: dict[int, str] = {}
    columns: dict[str, list[Any]] = {}
    wkb: list[Any] = []
    fids: list[Any] | None = None
    for i, name in enumerate(names):
        column = batch.column(i)
        if name == geometry_name:
            wkb = column.to_pylist()
        elif name == "OGC_FID" and layer.fid_column:
            fids = column.to_pylist()
        else:
            columns[name] = _column_values(column, name, layer.encoding, bad)
    if fids is not None and layer.fid_column not in columns:
        columns[layer.fid_column] = fids
    geoms = _geometries(wkb, transform)
    n = batch.num_rows
    keys = list(columns)
    values = [columns[k] for k in keys]
    for j in range(n):
        where = f"couche « {layer.name} », entité {start + j}"
        props = {k: col[j] for k, col in zip(keys, values, strict=True)}
        if j in bad:
            report(where, bad[j])
            continue
        geometry = geoms[j]
        if osm:
            converted = _osm_road(props, geometry, extent, state)
            if converted is None:
                continue
            props = converted
        yield where, {"type": "Feature", "properties": props, "geometry": geometry}


def _geometries(
    wkb: list[Any], transform: Callable[[np.ndarray], np.ndarray] | None
) -> list[dict[str, Any] | None]:
    """WKB → GeoJSON geometry dicts in WGS84 (2D), None for a missing or unreadable one."""
    arr = np.array(wkb, dtype=object)
    geoms = shapely.from_wkb(arr, on_invalid="ignore")
    geoms = shapely.force_2d(geoms)
    if transform is not None:
        geoms = shapely.transform(geoms, transform)
        geoms = shapely.transform(geoms, lambda c: np.round(c, 7))
    out: list[dict[str, Any] | None] = []
    points = shapely.get_type_id(geoms) == 0
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    texts = shapely.to_geojson(np.where(points | empty, None, geoms))
    xs = shapely.get_x(np.where(points & ~empty, geoms, None))
    ys = shapely.get_y(np.where(points & ~empty, geoms, None))
    for k in range(len(geoms)):
        if empty[k]:
            out.append(None if shapely.is_missing(geoms[k]) else {"type": "GeometryCollection"})
        elif points[k]:
            out.append({"type": "Point", "coordinates": [float(xs[k]), float(ys[k])]})
        else:
            out.append(json.loads(texts[k]))
    return out


_GEOD = pyproj.Geod(ellps="GRS80")


def _osm_road(
    props: dict[str, Any],
    geometry: dict[str, Any] | None,
    extent: tuple[float, float, float, float],
    state: ReadState,
) -> dict[str, Any] | None:
    """An OSM way (GDAL `lines` layer) as a feature of the roads dataset, or None (skipped)."""
    highway = props.get("highway")
    kind = OSM_KINDS.get(str(highway))
    if kind is None:
        state.skip(f"classe OSM « {highway} » non retenue")
        return None
    if geometry is None or geometry.get("type") != "LineString":
        state.skip("géométrie absente")
        return None
    coords = geometry["coordinates"]
    xs = [c[0] for c in coords]
    ys = [c[1] for c in coords]
    if min(xs) < extent[0] or min(ys) < extent[1] or max(xs) > extent[2] or max(ys) > extent[3]:
        state.skip("hors de l'emprise du territoire")
        return None
    tags = _hstore(props.get("other_tags"))
    if (
        tags.get("bridge", "no") not in ("no", "")
        and str(highway).split("_")[0] in OSM_BRIDGE_CLASSES
    ):
        kind = "bridge"
    ref = tags.get("ref") or None
    name = props.get("name") or ref or f"{OSM_CLASS_LABELS.get(kind, 'Pont')} sans nom"
    length = _GEOD.line_length(xs, ys)
    return {
        "id": f"osm-w{props.get('osm_id')}",
        "name": name,
        "ref": ref,
        "kind": kind,
        "length_m": int(round(length)) if math.isfinite(length) else 0,
        "highway": highway,
        "source": OSM_SOURCE,
    }


# -- writing a GeoPackage ------------------------------------------------------------------


def write_gpkg(
    dataset: Dataset, feats: Iterable[dict[str, Any]], out: Path, batch_size: int = BATCH
) -> int:
    """Write features (WGS84 GeoJSON) as a GeoPackage layer named after the dataset."""
    import pyarrow as pa
    from pyogrio import raw

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    columns = [dataset.id_field] + [f.name for f in dataset.fields if f.name != dataset.id_field]
    ftypes = {f.name: f.type for f in dataset.fields}
    schema = pa.schema(
        [pa.field(c, types.get(ftypes.get(c, "str"), pa.string())) for c in columns]
        + [pa.field("extra", pa.string()), pa.field("geom", pa.binary())]
    )
    known = set(columns)
    geometry_type = dataset.geometry_type
    written = 0
    buffer: list[dict[str, Any]] = []

    def flush(append: bool) -> None:
        data: dict[str, list[Any]] = {c: [] for c in schema.names}
        for feat in buffer:
            props = dict(feat["properties"])
            props.setdefault(dataset.id_field, feat["id"])
            for c in columns:
                value = props.get(c)
                if ftypes.get(c) == "json" and value is not None:
                    value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                elif value is not None and ftypes.get(c, "str") == "str":
                    value = str(value)
                data[c].append(value)
            extra = {k: v for k, v in props.items() if k not in known}
            data["extra"].append(
                json.dumps(extra, ensure_ascii=False, separators=(",", ":")) if extra else None
            )
            data["geom"].append(shapely.to_wkb(shape(feat["geometry"])))
        table = pa.table(data, schema=schema)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw.write_arrow(
                table,
                str(out),
                layer=dataset.slug,
                driver="GPKG",
                geometry_name="geom",
                geometry_type=geometry_type,
                crs="EPSG:4326",
                append=append,
            )

    for feat in feats:
        buffer.append(feat)
        if len(buffer) >= batch_size:
            flush(append=written > 0)
            written += len(buffer)
            buffer = []
    if buffer or written == 0:
        flush(append=written > 0)
        written += len(buffer)
    return written
