"""Importers: GeoJSON, CSV, the Géorisques ICPE export, INSEE's 200 m grid, and the GIS formats
read through pyogrio (GeoPackage, Shapefile, FlatGeobuf, GeoJSONSeq, OSM PBF: :mod:`app.gis_files`).

An import reads the file once, streaming, so memory stays bounded whatever its size: each
feature is validated and, while the file is clean so far, written into ONE transaction
(:func:`app.catalogue.write_features`). The first problem rolls that transaction back (an
uncommitted SQLite transaction leaves nothing behind) and the rest of the file is still read,
outside any transaction, to report every problem (up to ``MAX_ERRORS``). Messages are in French
and name the file, the feature (index from 0 and id) or the CSV line, and the problem.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import sqlite_utils
from shapely.geometry import shape

from . import catalogue, fr, gis_files
from .catalogue import CatalogueError, Dataset, ImportResult, PreparedFeature
from .field_mapping import FieldMapper, MissingFields
from .geo import proj

FORMATS = ("geojson", "csv", "icpe", "insee", "gpkg", "shp", "fgb", "osm")
GIS_FORMATS = ("gpkg", "shp", "fgb", "osm", "geojsonseq")  # read through pyogrio (GDAL)
MAX_ERRORS = 30
MAX_FEATURE_CHARS = 16 * 1024 * 1024  # one feature's JSON text
MAX_VERTICES = 250_000  # per feature
MAX_DEPTH = 6  # GeoJSON coordinates nest at most 4 deep (MultiPolygon)
WORLD = (-180.0, -90.0, 180.0, 90.0)
MAX_PROPERTY_DEPTH = 32  # a property value (JSON) nested deeper is refused
CHUNK = 1 << 20

# progress(fraction done or None when unknown, features read so far)
Progress = Callable[[float | None, int], None]


class ProgressTracker:
    """Turns bytes read (text formats) or features read (GIS formats) into progress calls."""

    def __init__(self, size: int, callback: Progress | None):
        self.size = max(size, 1)
        self.callback = callback
        self.bytes = 0
        self.features = 0  # features handed to the validator
        self.read = 0  # features read from a GIS layer (its count is known up front)
        self.total_features = -1
        self._last = -1.0
        self._last_features = 0

    def add_bytes(self, n: int) -> None:
        self.bytes += n
        self.emit()

    def add_read(self, n: int) -> None:
        self.read += n
        self.emit()

    def fraction(self) -> float | None:
        if self.total_features > 0:
            return min(1.0, self.read / self.total_features)
        if self.total_features == 0 or self.bytes == 0:
            return None
        return min(1.0, self.bytes / self.size)

    def emit(self, force: bool = False) -> None:
        if self.callback is None:
            return
        fraction = self.fraction()
        step = (fraction or 0.0) - self._last
        if force or step >= 0.005 or self.features - self._last_features >= 20_000:
            self._last = fraction or 0.0
            self._last_features = self.features
            self.callback(fraction, self.features)


class ImportFailed(CatalogueError):
    """The file was refused; ``problems`` lists every message (capped), nothing was written."""

    def __init__(self, file_name: str, problems: list[str], more: int = 0):
        self.file_name = file_name
        self.problems = problems
        self.more = more
        super().__init__("\n".join(self.lines))

    @property
    def lines(self) -> list[str]:
        """Every problem kept, and how many more were not (``… et 3 autres problèmes.``)."""
        more = [f"… et {fr.count(self.more, 'autre problème', 'autres problèmes')}."]
        return [*self.problems, *(more if self.more else [])]


class _Refused(Exception):
    """Raised inside the writing transaction when the file has a problem: it rolls back."""


class _Stop(Exception):
    """A fault after which the rest of the file cannot be read (bad JSON, bad encoding)."""


@dataclass
class _Report:
    file_name: str
    problems: list[str] = field(default_factory=list)
    more: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        if len(self.problems) < MAX_ERRORS:
            self.problems.append(f"{self.file_name}, {where} : {message}")
        else:
            self.more += 1


# -- reading text with a clear encoding error ----------------------------------------------


class _TextReader:
    """Decode a binary stream incrementally; a decoding fault names the byte offset and line."""

    def __init__(
        self,
        raw: Any,
        encoding: str,
        file_name: str,
        progress: Callable[[int], None] | None,
        digest: Any = None,
    ):
        self.raw = raw
        self.digest = digest  # hashlib object fed with every byte read, or None
        self.encoding = encoding
        self.decoder = codecs.getincrementaldecoder(encoding)("strict")
        self.file_name = file_name
        self.progress = progress
        self.offset = 0  # bytes consumed
        self.lines = 1
        self.eof = False
        self.first = True

    def read(self, size: int = CHUNK) -> str:
        if self.eof:
            return ""
        data = self.raw.read(size)
        final = not data
        try:
            text = self.decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            pos = self.offset + exc.start
            line = self.lines + data[: exc.start].count(b"\n")
            hint = (
                " ; le fichier est sans doute en ISO-8859-1 (Windows, Excel, Géorisques) :"
                " réenregistrez-le en UTF-8 ou indiquez --encoding iso-8859-1"
                if self.encoding.replace("-", "").lower().startswith("utf8")
                else ""
            )
            raise _Stop(
                f"{self.file_name}, ligne {line} (octet {pos}) : encodage invalide,"
                f" {self.encoding.upper()} attendu{hint}."
            ) from None
        if self.digest is not None:
            self.digest.update(data)
        self.offset += len(data)
        self.lines += data.count(b"\n")
        if self.first and text.startswith("\ufeff"):
            text = text[1:]
        if text:
            self.first = False
        if self.progress is not None and data:
            self.progress(len(data))
        self.eof = final
        return text


# -- streaming GeoJSON ----------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_COMMA = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")


class _JsonStream:
    """Walk a top-level GeoJSON object, yielding the items of its `features` array one by one."""

    def __init__(self, reader: _TextReader):
        self.reader = reader
        self.buf = ""
        self.pos = 0
        self.consumed_lines = 1
        # The C scanner behind json.JSONDecoder.raw_decode, built once (raw_decode without the
        # per-call decoder and wrapper).
        self.scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # untyped C scanner

    def _fill(self) -> bool:
        text = self.reader.read()
        if not text:
            return False
        if self.pos > CHUNK:
            self.consumed_lines += self.buf.count("\n", 0, self.pos)
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += text
        return True

    def _line(self, pos: int) -> int:
        return self.consumed_lines + self.buf.count("\n", 0, pos)

    def _skip_ws(self) -> None:
        while True:
            m = _WS.match(self.buf, self.pos)
            assert m is not None
            self.pos = m.end()
            if self.pos < len(self.buf) or not self._fill():
                return

    def _peek(self) -> str:
        self._skip_ws()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def _expect(self, char: str, what: str) -> None:
        found = self._peek()
        if found != char:
            shown = f"« {found} »" if found else "la fin du fichier"
            raise _Stop(f"ligne {self._line(self.pos)} : {what} attendu, trouvé {shown}")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next JSON value, reading more text until it is complete."""
        self._skip_ws()
        scan = self.scan
        while True:
            try:
                try:
                    value, end = scan(self.buf, self.pos)
                except StopIteration as stop:  # what raw_decode turns into this error
                    raise json.JSONDecodeError("Expecting value", self.buf, stop.value) from None
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > MAX_FEATURE_CHARS:
                    raise _Stop(
                        f"ligne {self._line(self.pos)} : entité de plus de"
                        f" {MAX_FEATURE_CHARS // 2**20} Mo de texte, refusée"
                    ) from None
                if self._fill():
                    continue
                raise _Stop(
                    f"ligne {self._line(exc.pos)} : JSON invalide ({_json_reason(exc.msg)})"
                ) from None
            except RecursionError:
                raise _Stop(
                    f"ligne {self._line(self.pos)} : imbrication trop profonde, refusée"
                ) from None
            if end == len(self.buf) and not self.reader.eof and self._fill():
                continue  # a number or literal may go on in the next chunk
            self.pos = end
            return value

    def walk(self, on_member: Callable[[str, Any], None]) -> Iterator[Any]:
        """Yield each feature; other top-level members go to ``on_member`` as they are read."""
        if self._peek() == "":
            raise _Stop("fichier vide")
        if self._peek() != "{":
            raise _Stop(
                "ligne 1 : ce n'est pas un objet GeoJSON (FeatureCollection attendue)"
                if self._peek() in '["0123456789-tfn'
                else "ligne 1 : ce n'est pas du JSON"
            )
        self.pos += 1
        seen_features = False
        first = True
        while True:
            if self._peek() == "}":
                self.pos += 1
                break
            if not first:
                self._expect(",", "« , » ou « } »")
            first = False
            key = self.value()
            if not isinstance(key, str):
                raise _Stop(f"ligne {self._line(self.pos)} : clé d'objet attendue")
            self._expect(":", "« : »")
            if key == "features":
                seen_features = True
                self._expect("[", "« [ » (liste des entités)")
                if self._peek() == "]":
                    self.pos += 1
                    continue
                comma = _COMMA.match
                while True:
                    yield self.value()
                    m = comma(self.buf, self.pos)
                    if m is not None and m.end() < len(self.buf):
                        self.pos = m.end()  # the usual case: "," then the next feature
                        continue
                    if self._peek() == "]":
                        self.pos += 1
                        break
                    self._expect(",", "« , » ou « ] »")
            else:
                on_member(key, self.value())
        if self._peek() != "":
            raise _Stop(f"ligne {self._line(self.pos)} : texte après la fin de l'objet GeoJSON")
        if not seen_features:
            raise _Stop("pas de membre « features » : une FeatureCollection est attendue")


def _json_reason(msg: str) -> str:
    table = {
        "Expecting value": "valeur attendue",
        "Expecting property name enclosed in double quotes": "nom de propriété entre guillemets"
        " attendu",
        "Expecting ',' delimiter": "« , » attendu",
        "Expecting ':' delimiter": "« : » attendu",
        "Unterminated string starting at": "chaîne non terminée",
        "Invalid control character at": "caractère de contrôle dans une chaîne",
        "Extra data": "données après la fin",
    }
    return table.get(msg, msg)


# -- CRS -------------------------------------------------------------------------------------

_CRS_RE = re.compile(r"(?:EPSG(?:::|:)|epsg/0/)(\d+)$", re.IGNORECASE)


def parse_crs(value: Any) -> int:
    """EPSG code from 4326, "EPSG:2154", "urn:ogc:def:crs:EPSG::2154" or OGC CRS84."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if text.upper().endswith("CRS84"):
        return proj.WGS84
    m = _CRS_RE.search(text)
    if not m:
        raise CatalogueError(f"système de coordonnées « {text} » non reconnu (EPSG:xxxx attendu)")
    return int(m.group(1))


def _crs_member(value: Any) -> int:
    if isinstance(value, dict):
        props = value.get("properties") or {}
        name = props.get("name") or props.get("code")
        if name is not None:
            return parse_crs(name)
    raise CatalogueError("membre « crs » illisible (properties.name attendu)")


def _check_crs(epsg: int) -> None:
    try:
        proj.transformer(epsg, proj.WGS84)
    except Exception:
        raise CatalogueError(f"EPSG:{epsg} inconnu de PROJ") from None


# -- validating one feature --------------------------------------------------------------------


_REASONS = [
    ("Ring Self-intersection", "un anneau se recoupe lui-même"),
    ("Self-intersection", "auto-intersection (le contour se croise)"),
    ("Too few points", "trop peu de points"),
    ("Hole lies outside shell", "un trou est hors du contour extérieur"),
    ("Nested shells", "polygones imbriqués"),
    ("Interior is disconnected", "l'intérieur est déconnecté"),
    ("Duplicate Rings", "anneaux en double"),
    ("Nested holes", "trous imbriqués"),
    ("Invalid Coordinate", "coordonnée invalide"),
]


def explain_invalid(geom: Any) -> str:
    """A French explanation of shapely's invalidity reason, with the place in lon/lat."""
    reason = shapely.is_valid_reason(geom)
    m = re.search(r"\[([-\d.eE+]+) ([-\d.eE+]+)\]", reason)
    where = f" près de ({float(m.group(1)):.6f}, {float(m.group(2)):.6f})" if m else ""
    for key, french in _REASONS:
        if reason.startswith(key):
            return french + where
    return reason


def _depth_and_count(coords: Any, depth: int = 0) -> tuple[int, int]:
    """(nesting depth, vertex count) of a coordinates array; stops early when absurd."""
    if not isinstance(coords, list):
        return depth, 0
    if not coords or not isinstance(coords[0], list):
        return depth + 1, 1
    if depth >= MAX_DEPTH:
        return depth + 1, 0
    deepest, count = 0, 0
    for c in coords:
        d, n = _depth_and_count(c, depth + 1)
        deepest = max(deepest, d)
        count += n
        if count > MAX_VERTICES:
            break
    return deepest, count


def _flatten(coords: Any, out: list[Any]) -> None:
    if isinstance(coords, list) and coords and not isinstance(coords[0], list):
        out.append(coords)
    elif isinstance(coords, list):
        for c in coords:
            _flatten(c, out)


def _ring_problem(coords: Any, gtype: str) -> str | None:
    """Unclosed or too short rings, which shapely would silently close."""
    polys = [coords] if gtype == "Polygon" else coords if gtype == "MultiPolygon" else []
    for p, poly in enumerate(polys):
        if not isinstance(poly, list):
            return "coordonnées mal formées"
        for r, ring in enumerate(poly):
            if not isinstance(ring, list) or len(ring) < 4:
                return f"anneau {r} du polygone {p} : moins de 4 positions"
            if ring[0] != ring[-1]:
                return (
                    f"anneau {r} du polygone {p} non fermé (le premier point {ring[0]} doit"
                    f" être répété à la fin, trouvé {ring[-1]})"
                )
    return None


class Validator:
    """Checks features against a dataset's schema and the territory's extent."""

    def __init__(self, dataset: Dataset, extent: tuple[float, float, float, float], epsg: int):
        self.dataset = dataset
        self.extent = extent
        self.epsg = epsg
        base = dataset.geometry_type.removeprefix("Multi")
        self.accepted = {base} if base == "Point" else {base, "Multi" + base}
        self.fields = dataset.fields
        self.seen: set[str] = set()
        # Per field: (name, required, type, the exact types that pass at once, allowed values).
        self._checks = tuple(
            (f.name, f.required, f.type, _FAST_TYPES.get(f.type), f.values) for f in self.fields
        )
        self._id_in_schema = dataset.field(dataset.id_field) is not None
        self._id_field = dataset.id_field

    def set_crs(self, epsg: int) -> None:
        self.epsg = epsg

    def check(
        self,
        feat: Any,
        report: _Report,
        where: str,
        geometry_check: bool = True,
    ) -> PreparedFeature | None:
        """Validate and normalise one GeoJSON feature; record problems in ``report``."""
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            report.add(where, "objet « Feature » attendu")
            return None
        props = feat.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            report.add(where, "« properties » doit être un objet")
            return None
        fid = props.get(self.dataset.id_field, feat.get("id"))
        if fid is None or fid == "" or isinstance(fid, bool | dict | list | float):
            report.add(
                where,
                f"identifiant manquant (propriété « {self.dataset.id_field} » ou membre « id »)",
            )
            return None
        fid = str(fid)
        where_id = f"{where} (id {fid})"
        if fid in self.seen:
            report.add(where_id, f"identifiant « {fid} » en double dans le fichier")
            return None
        self.seen.add(fid)
        ok = self._check_properties(props, report, where_id)
        geometry = self._check_geometry(feat.get("geometry"), report, where_id, geometry_check)
        if not ok or geometry is None:
            return None
        geojson, bbox = geometry
        if self._id_in_schema and self._id_field not in props:
            props = dict(props)
            props[self._id_field] = fid
        return PreparedFeature(fid, geojson, props, bbox)

    def _check_properties(self, props: dict[str, Any], report: _Report, where: str) -> bool:
        ok = True
        for name, value in props.items():
            kind = type(value)
            if kind is float:
                if not math.isfinite(value):
                    report.add(where, f"propriété « {name} » : {_NON_FINITE}")
                    ok = False
            elif kind is dict or kind is list:
                problem = _json_problem(value)
                if problem:
                    report.add(where, f"propriété « {name} » : {problem}")
                    ok = False
        for name, required, ftype, fast, values in self._checks:
            value = props.get(name)
            if value is None:
                if required:
                    report.add(where, f"propriété obligatoire « {name} » manquante")
                    ok = False
                continue
            if fast is not None and type(value) not in fast and not _type_ok(ftype, value):
                report.add(
                    where,
                    f"propriété « {name} » : {_TYPE_LABELS[ftype]} attendu,"
                    f" trouvé {_describe(value)}",
                )
                ok = False
            elif values is not None and value not in values:
                allowed = ", ".join(str(v) for v in values)
                report.add(
                    where, f"propriété « {name} » : « {value} » hors des valeurs ({allowed})"
                )
                ok = False
        return ok

    def _check_geometry(
        self, geom: Any, report: _Report, where: str, full: bool
    ) -> tuple[dict[str, Any], tuple[float, float, float, float]] | None:
        if not isinstance(geom, dict):
            report.add(where, "géométrie absente")
            return None
        gtype = geom.get("type")
        if gtype == "Point" and self.epsg == proj.WGS84:
            # The common case, decided without the generic walk: exactly two finite numbers
            # inside the territory. Anything else takes the full path and its messages.
            coords = geom.get("coordinates")
            if type(coords) is list and len(coords) == 2:
                x, y = coords
                if type(x) in _NUMBER and type(y) in _NUMBER:
                    x, y = float(x), float(y)
                    ex = self.extent
                    if ex[0] <= x <= ex[2] and ex[1] <= y <= ex[3] and "Point" in self.accepted:
                        if self.dataset.geometry_type == "Point":
                            return {"type": "Point", "coordinates": coords}, (x, y, x, y)
        if gtype not in self.accepted:
            expected = " ou ".join(sorted(self.accepted))
            report.add(where, f"géométrie de type « {gtype} », {expected} attendu")
            return None
        coords = geom.get("coordinates")
        depth, count = _depth_and_count(coords)
        if depth > MAX_DEPTH:
            report.add(where, "coordonnées trop imbriquées, refusées")
            return None
        if count > MAX_VERTICES:
            report.add(where, f"plus de {MAX_VERTICES} sommets, refusée (simplifiez la géométrie)")
            return None
        ring = _ring_problem(coords, gtype)
        if ring:
            report.add(where, f"géométrie invalide : {ring}")
            return None
        if (not full or gtype == "Point") and self.epsg == proj.WGS84:
            fast = self._fast(gtype, coords, report, where)
            if fast is not None or gtype == "Point":
                return fast
        try:
            g = shape({"type": gtype, "coordinates": coords})
        except Exception:
            report.add(where, "coordonnées mal formées pour une géométrie " + str(gtype))
            return None
        xy = shapely.get_coordinates(g)
        if len(xy) == 0:
            report.add(where, "géométrie vide")
            return None
        if not np.isfinite(xy).all():
            report.add(where, "coordonnées non numériques ou infinies")
            return None
        if self.epsg != proj.WGS84:
            g = proj.transform_geom(g, self.epsg, proj.WGS84)
        minx, miny, maxx, maxy = (float(v) for v in g.bounds)
        if not self._inside(minx, miny, maxx, maxy):
            report.add(where, self._outside_message(g))
            return None
        if full and gtype != "Point" and not g.is_valid:
            report.add(where, f"géométrie invalide : {explain_invalid(g)}")
            return None
        if self.dataset.geometry_type.startswith("Multi") and not gtype.startswith("Multi"):
            g = shapely.multipolygons([g]) if gtype == "Polygon" else shapely.multilinestrings([g])
        if self.epsg == proj.WGS84 and gtype == self.dataset.geometry_type:
            out = {"type": gtype, "coordinates": coords}
        else:
            out = proj.shape_to_geojson(g, precision=7)
        return out, (minx, miny, maxx, maxy)

    def _fast(
        self, gtype: str, coords: Any, report: _Report, where: str
    ) -> tuple[dict[str, Any], tuple[float, float, float, float]] | None:
        """Points (and callers that skip geometry checks) go without shapely (the costly part)."""
        flat: list[Any] = []
        _flatten(coords, flat)
        if not flat or any(len(c) not in (2, 3) for c in flat):
            if gtype == "Point":
                report.add(where, "coordonnées mal formées pour une géométrie Point")
            return None
        try:
            xs = [float(c[0]) for c in flat]
            ys = [float(c[1]) for c in flat]
        except (TypeError, ValueError):
            if gtype == "Point":
                report.add(where, "coordonnées non numériques")
            return None
        if not all(math.isfinite(v) for v in (*xs, *ys)) or any(
            isinstance(v, bool | str) for c in flat for v in c
        ):
            if gtype == "Point":
                report.add(where, "coordonnées non numériques ou infinies")
            return None
        bbox = (min(xs), min(ys), max(xs), max(ys))
        if not self._inside(*bbox):
            if gtype == "Point":
                report.add(where, self._outside_message(shapely.box(*bbox)))
            return None
        if gtype != self.dataset.geometry_type:
            return None  # promotion to Multi* goes through shapely
        return {"type": gtype, "coordinates": coords}, bbox

    def _inside(self, minx: float, miny: float, maxx: float, maxy: float) -> bool:
        ex = self.extent
        return minx >= ex[0] and miny >= ex[1] and maxx <= ex[2] and maxy <= ex[3]

    def _outside_message(self, g: Any) -> str:
        minx, miny, maxx, maxy = g.bounds
        ex = self.extent
        text = (
            f"coordonnées hors du territoire (emprise {minx:.5f}, {miny:.5f} – {maxx:.5f},"
            f" {maxy:.5f} ; attendu lon {ex[0]:.2f} à {ex[2]:.2f}, lat {ex[1]:.2f} à {ex[3]:.2f})"
        )
        if self._inside(miny, minx, maxy, maxx):
            text += " : latitude et longitude semblent inversées (l'ordre GeoJSON est lon, lat)"
        elif self.epsg == proj.WGS84 and max(abs(minx), abs(maxy)) > 180:
            text += " : coordonnées projetées ? indiquez le système avec --crs (ex. 2154)"
        return text


_NON_FINITE = "nombre non fini (Infinity ou NaN) refusé : un nombre fini est attendu"
_TOO_DEEP = f"imbrication trop profonde (plus de {MAX_PROPERTY_DEPTH} niveaux), refusée"


def _json_problem(value: Any) -> str | None:
    """Why a JSON property value cannot be stored (non-finite number, absurd nesting), or None."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_PROPERTY_DEPTH:
            return _TOO_DEEP
        if type(item) is float and not math.isfinite(item):
            return _NON_FINITE
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return None


class _CellError(ValueError):
    """A CSV cell refused for a reason of its own (the message says it)."""


def _json_cell(text: str) -> Any:
    """A JSON cell: non-finite numbers and absurd nesting refused (never a RecursionError)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise _CellError(_TOO_DEEP) from None


def _refuse_constant(name: str) -> Any:
    raise _CellError(f"« {name} » : {_NON_FINITE}")


_TYPE_LABELS = {
    "str": "texte",
    "int": "entier",
    "float": "nombre",
    "bool": "booléen (true/false)",
    "json": "valeur JSON",
}


# Exact types that satisfy a field type at once; others go through _type_ok (None: any value).
_FAST_TYPES: dict[str, frozenset[type] | None] = {
    "str": frozenset({str}),
    "int": frozenset({int}),
    "float": frozenset({int, float}),
    "bool": frozenset({bool}),
    "json": None,
}
_NUMBER = frozenset({int, float})


def _type_ok(ftype: str, value: Any) -> bool:
    if ftype == "str":
        return isinstance(value, str)
    if ftype == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if ftype == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if ftype == "bool":
        return isinstance(value, bool)
    return True


def _describe(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 40:
        shown = shown[:37] + "…"
    kind = {
        bool: "booléen",
        int: "entier",
        float: "nombre",
        str: "texte",
        list: "liste",
        dict: "objet",
    }.get(type(value), type(value).__name__)
    return f"{kind} {shown}"


# -- sources: each yields (where, GeoJSON feature) ------------------------------------------

Source = Iterator[tuple[str, Any]]


def _geojson_source(reader: _TextReader, validator: Validator, crs_given: bool) -> Source:
    stream = _JsonStream(reader)
    state = {"features": False}

    def on_member(key: str, value: Any) -> None:
        if key == "type" and value != "FeatureCollection":
            raise _Stop(f"« type » vaut « {value} », une FeatureCollection est attendue")
        if key == "crs" and not crs_given:
            if state["features"]:
                raise _Stop(
                    "le membre « crs » suit les entités : placez-le avant ou utilisez --crs"
                )
            try:
                epsg = _crs_member(value)
                _check_crs(epsg)
            except CatalogueError as exc:
                raise _Stop(str(exc)) from None
            validator.set_crs(epsg)

    for i, feat in enumerate(stream.walk(on_member)):
        state["features"] = True
        yield f"entité {i}", feat


_LON = ("lon", "longitude", "lng", "long")
_LAT = ("lat", "latitude")


def _sniff_delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


def _csv_rows(reader: _TextReader) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file, streaming; the header's delimiter is sniffed."""

    class _Lines(io.TextIOBase):
        def __init__(self) -> None:
            self.pending = ""
            self.start = 0  # where the next line begins in ``pending`` (no re-slicing per line)

        def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
            scan = self.start
            while (end := self.pending.find("\n", scan)) < 0:
                more = reader.read(1 << 16)
                if not more:
                    out = self.pending[self.start :]
                    self.pending, self.start = "", 0
                    return out
                self.pending = self.pending[self.start :] + more
                scan = len(self.pending) - len(more)
                self.start = 0
            out = self.pending[self.start : end + 1]
            self.start = end + 1
            return out

        def __iter__(self) -> Any:
            return self

        def __next__(self) -> str:  # type: ignore[override]
            line = self.readline()
            if not line:
                raise StopIteration
            return line

    lines = _Lines()
    first = lines.readline()
    if not first.strip():
        raise _Stop("fichier vide")
    delimiter = _sniff_delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter))
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        raise _Stop("ligne 1 : colonnes en double dans l'en-tête")
    rd = csv.reader(lines, delimiter=delimiter)
    line = 1
    try:
        for values in rd:
            line = rd.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                got = fr.count(len(values), "colonne", "colonnes")
                yield line, {"__bad__": f"{got} au lieu de {fr.integer(len(header))}"}
                continue
            if any("\x00" in v for v in values):
                column = next(h for h, v in zip(header, values, strict=True) if "\x00" in v)
                yield line, {"__bad__": f"colonne « {column} » : caractère NUL (octet 0) refusé"}
                continue
            yield line, dict(zip(header, values, strict=True))
    except csv.Error as exc:
        raise _Stop(f"ligne {line} : CSV illisible ({exc})") from None


def _coerce(ftype: str, text: str) -> Any:
    text = text.strip()
    if text == "":
        return None
    if ftype == "int":
        try:
            return int(text)
        except ValueError:
            number = float(text.replace(",", "."))
            if number.is_integer():
                return int(number)
            raise
    if ftype == "float":
        number = float(text.replace(",", "."))
        if not math.isfinite(number):
            raise _CellError(_NON_FINITE)
        return number
    if ftype == "bool":
        low = text.lower()
        if low in ("true", "1", "oui", "vrai", "yes"):
            return True
        if low in ("false", "0", "non", "faux", "no"):
            return False
        raise ValueError(text)
    if ftype == "json":
        return _json_cell(text)
    return text


def _csv_source(reader: _TextReader, validator: Validator, report: _Report) -> Source:
    dataset = validator.dataset
    types = {f.name: f.type for f in dataset.fields}
    for line, values in _csv_rows(reader):
        where = f"ligne {line}"
        if "__bad__" in values:
            report.add(where, values["__bad__"])
            continue
        keys = {k.lower(): k for k in values}
        geometry: Any = None
        lon_key = next((keys[k] for k in _LON if k in keys), None)
        lat_key = next((keys[k] for k in _LAT if k in keys), None)
        if lon_key is None and "x" in keys:
            lon_key, lat_key = keys["x"], keys.get("y")
        geom_key = keys.get("geometry") or keys.get("geojson")
        wkt_key = keys.get("wkt")
        if geom_key or wkt_key:
            lon_key = lat_key = None  # then lon/lat columns are ordinary properties
        used = {lon_key, lat_key, geom_key, wkt_key, keys.get("extra")}
        try:
            if geom_key and values[geom_key].strip():
                geometry = _json_cell(values[geom_key])
            elif wkt_key and values[wkt_key].strip():
                geometry = json.loads(shapely.to_geojson(shapely.from_wkt(values[wkt_key])))
            elif lon_key and lat_key:
                geometry = {
                    "type": "Point",
                    "coordinates": [
                        float(values[lon_key].replace(",", ".")),
                        float(values[lat_key].replace(",", ".")),
                    ],
                }
            else:
                report.add(
                    where,
                    "pas de géométrie : colonnes lon/lat, x/y, geometry (GeoJSON) ou wkt attendues",
                )
                continue
        except _CellError as exc:
            report.add(where, f"colonne « {geom_key} » : {exc}")
            continue
        except (ValueError, shapely.errors.GEOSException):
            report.add(where, "coordonnées ou géométrie illisibles")
            continue
        props: dict[str, Any] = {}
        bad = False
        extra_key = keys.get("extra")
        if extra_key and values[extra_key].strip():
            try:
                extra = _json_cell(values[extra_key])
                props.update(extra if isinstance(extra, dict) else {})
            except _CellError as exc:
                report.add(where, f"colonne « {extra_key} » : {exc}")
                bad = True
            except ValueError:
                report.add(where, "colonne « extra » : objet JSON attendu")
                bad = True
        for key, text in values.items():
            if key in used:
                continue
            ftype = types.get(key, "str")
            try:
                value = _coerce(ftype, text)
            except _CellError as exc:
                report.add(where, f"colonne « {key} » : {exc}")
                bad = True
                continue
            except ValueError:
                report.add(
                    where, f"colonne « {key} » : {_TYPE_LABELS[ftype]} attendu, trouvé « {text} »"
                )
                bad = True
                continue
            if value is not None or key in types:
                props[key] = value
        if bad:
            continue
        yield where, {"type": "Feature", "properties": props, "geometry": geometry}


_SEVESO = {"seveso seuil haut": "Seveso seuil haut", "seveso seuil bas": "Seveso seuil bas"}


def _icpe_source(reader: _TextReader, validator: Validator, report: _Report) -> Source:
    """Géorisques ICPE export → seveso-sites features (non-Seveso rows are skipped)."""
    for line, values in _csv_rows(reader):
        where = f"ligne {line}"
        if "__bad__" in values:
            report.add(where, values["__bad__"])
            continue
        missing = [
            c for c in ("codeAiot", "raisonSociale", "longitude", "latitude") if c not in values
        ]
        if missing:
            raise _Stop(f"colonnes ICPE manquantes : {', '.join(missing)}")
        status = values.get("statutSeveso", "").strip()
        tier = _SEVESO.get(status.lower())
        if tier is None:
            report.skipped += 1
            continue
        try:
            lon = float(values["longitude"].replace(",", "."))
            lat = float(values["latitude"].replace(",", "."))
        except ValueError:
            report.add(where, "longitude/latitude absentes ou illisibles")
            continue
        name = values["raisonSociale"].strip()
        props = {
            "id": values["codeAiot"].strip(),
            "name": name,
            "operator": name,
            "commune": values.get("commune", "").strip() or None,
            "insee": values.get("codeInsee", "").strip() or None,
            "commune_confirmed": True,
            "position_commune_insee": values.get("codeInsee", "").strip() or None,
            "tier": tier,
            "hazards": None,
            "position_quality": "georisques",
            "effects": None,
            "effects_note": "non publiées — à renseigner depuis le PPI",
            "note": "; ".join(
                f"{k} : {values[k].strip()}"
                for k in ("regimeVigueur", "etatActivite", "codeNaf", "numeroSiret")
                if values.get(k, "").strip()
            )
            or None,
            "source_list": values.get("url", "").strip() or "Géorisques, export ICPE",
            "source": "real (Géorisques ICPE)",
        }
        yield (
            where,
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
            },
        )


_IDCAR = re.compile(r"^CRS3035RES(\d+)mN(\d+)E(\d+)$")


def insee_cell(idcar: str) -> dict[str, Any]:
    """The WGS84 polygon of an INSEE grid cell from its id (south-west corner, EPSG:3035)."""
    m = _IDCAR.match(idcar.strip())
    if not m:
        raise ValueError(idcar)
    size, north, east = (int(g) for g in m.groups())
    cell = shapely.box(east, north, east + size, north + size)
    wgs = proj.transform_geom(cell, proj.LAEA_EUROPE, proj.WGS84)
    return proj.shape_to_geojson(shapely.orient_polygons(wgs), precision=6)


def _insee_source(reader: _TextReader, validator: Validator, report: _Report) -> Source:
    """INSEE 200 m grid (Filosofi CSV) → population-grid features; cells built from their id."""
    types = {f.name: f.type for f in validator.dataset.fields}
    for line, values in _csv_rows(reader):
        where = f"ligne {line}"
        if "__bad__" in values:
            report.add(where, values["__bad__"])
            continue
        values = {k.lower(): v for k, v in values.items()}
        if "idcar_200m" not in values:
            raise _Stop("colonne « idcar_200m » manquante (grille Insee à 200 m attendue)")
        idcar = values["idcar_200m"].strip()
        try:
            geometry = insee_cell(idcar)
        except ValueError:
            report.add(where, f"identifiant de carreau « {idcar} » illisible (CRS3035RES200mN…E…)")
            continue
        props: dict[str, Any] = {"idcar_200m": idcar}
        bad = False
        for key, text in values.items():
            if key == "idcar_200m":
                continue
            ftype = types.get(key, "str")
            try:
                # INSEE's counts are imputed, hence decimal; integer fields get them rounded.
                value = _coerce("float" if ftype == "int" else ftype, text)
            except _CellError as exc:
                report.add(where, f"colonne « {key} » : {exc}")
                bad = True
                continue
            except ValueError:
                report.add(where, f"colonne « {key} » : {_TYPE_LABELS[ftype]} attendu")
                bad = True
                continue
            if isinstance(value, float) and ftype == "int":
                value = round(value)
            props[key] = value
        props.setdefault("source", "real (Insee, Filosofi)")
        if "commune_insee" not in props and "lcog_geo" in values:
            props["commune_insee"] = values["lcog_geo"][:5]
        if not bad:
            yield where, {"type": "Feature", "properties": props, "geometry": geometry}


# -- the import -------------------------------------------------------------------------------


def detect_format(path: Path, head: bytes) -> str:
    """One of FORMATS (or "geojsonseq"), from the extension and the first bytes."""
    gis = gis_files.detect(path)
    if gis is not None:
        return gis
    text = head.decode("latin-1")
    if text.startswith("\x1e"):
        return "geojsonseq"  # RFC 8142 record separator
    if path.suffix.lower() in (".geojson", ".json") or text.lstrip("\ufeff \t\r\n")[:1] == "{":
        return "geojson"
    if head.startswith(b"SQLite format 3"):
        return "gpkg"
    if head.startswith(b"fgb"):
        return "fgb"
    if head.startswith(b"PK\x03\x04"):
        return "shp"
    first = text.splitlines()[0] if text else ""
    columns = {c.strip().strip('"').lower() for c in re.split(r"[;,]", first)}
    if {"codeaiot", "raisonsociale"} <= columns:
        return "icpe"
    if "idcar_200m" in columns and not columns & {"geometry", "wkt", "lon", "x"}:
        return "insee"
    return "csv"


def _utf8_ok(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    with path.open("rb") as raw:
        try:
            while chunk := raw.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _stop_message(exc: Exception, file_name: str) -> str:
    message = str(exc)
    if message.startswith(("ligne", "couche")):
        return f"{file_name}, {message}"
    if not message.startswith(file_name):
        return f"{file_name} : {message}"
    return message


def _checked(
    source: Source,
    validator: Validator,
    mapper: FieldMapper,
    report: _Report,
    tracker: ProgressTracker,
    header_checked: bool,
) -> Generator[PreparedFeature, None, None]:
    """The one pipeline: mapping, then validation, of every feature a source yields."""
    first = not header_checked and bool(mapper.entries)
    for where, feat in source:
        tracker.features += 1
        if mapper.active and isinstance(feat, dict):
            props = feat.get("properties")
            if isinstance(props, dict):
                if first:
                    # A CSV's header (every row has every column): check the mapped fields once.
                    first = False
                    mapper.check_fields(props, f"{report.file_name}, {where}")
                props = mapper.apply(props, where, report.add)
                if props is None:
                    continue
                feat = {**feat, "properties": props}
        prepared = validator.check(feat, report, where)
        if prepared is not None:
            yield prepared


def _run(
    path: Path,
    fmt: str,
    encoding: str,
    validator: Validator,
    report: _Report,
    crs_given: bool,
    tracker: ProgressTracker,
    digest: Any = None,
    layer: gis_files.Layer | None = None,
    state: gis_files.ReadState | None = None,
) -> Generator[PreparedFeature, None, None]:
    """Every valid feature of the file, in order; problems go to ``report`` as they are found."""
    mapper = FieldMapper(validator.dataset, typed=layer is not None and fmt != "osm")
    if fmt == "osm":
        mapper = FieldMapper(replace(validator.dataset, mapping=()), typed=False)
    try:
        if layer is not None:
            assert state is not None
            source = gis_files.read_features(
                layer,
                report=report.add,
                state=state,
                extent=validator.extent,
                on_batch=tracker.add_read,
            )
            fields = layer.fields + ([layer.fid_column] if layer.fid_column else [])
            mapper.check_fields(fields, f"{report.file_name}, couche « {layer.name} »")
            yield from _checked(source, validator, mapper, report, tracker, True)
            return
        with path.open("rb") as raw:
            reader = _TextReader(raw, encoding, report.file_name, tracker.add_bytes, digest)
            if fmt == "geojson":
                text_source = _geojson_source(reader, validator, crs_given)
            elif fmt == "icpe":
                text_source = _icpe_source(reader, validator, report)
            elif fmt == "insee":
                text_source = _insee_source(reader, validator, report)
            else:
                text_source = _csv_source(reader, validator, report)
            yield from _checked(text_source, validator, mapper, report, tracker, False)
    except _Stop as exc:
        report.problems.append(_stop_message(exc, report.file_name))
    except gis_files.GisFileError as exc:
        report.problems.append(_stop_message(exc, report.file_name))
    except MissingFields as exc:
        report.problems.extend(exc.messages)


def _file_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (a Shapefile delivered as a folder)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for f in files:
        with f.open("rb") as raw:
            while chunk := raw.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def import_file(
    db: sqlite_utils.Database,
    now: datetime,
    slug: str,
    path: str | Path,
    *,
    actor: str | None,
    fmt: str | None = None,
    crs: str | int | None = None,
    replace: bool = False,
    encoding: str | None = None,
    file_name: str | None = None,
    progress: Progress | None = None,
    layer: str | None = None,
) -> ImportResult:
    """Validate the whole file, then write it in one transaction; ImportFailed writes nothing."""
    path = Path(path)
    name = file_name or path.name
    dataset = catalogue.require_dataset(db, slug)
    if not path.exists():
        raise ImportFailed(name, [f"{name} : fichier introuvable"])
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
        head = b""
        fmt = fmt or "shp"
    else:
        size = path.stat().st_size
        if size == 0:
            raise ImportFailed(name, [f"{name} : fichier vide"])
        with path.open("rb") as raw:
            head = raw.read(4096)
    if fmt == "geojson" and gis_files.detect(path) == "geojsonseq":
        fmt = "geojsonseq"
    fmt = fmt or detect_format(path, head)
    if fmt not in FORMATS and fmt not in GIS_FORMATS:
        raise ImportFailed(name, [f"{name} : format « {fmt} » inconnu ({', '.join(FORMATS)})"])
    if fmt == "icpe" and slug != "seveso-sites":
        raise ImportFailed(name, [f"{name} : un export ICPE s'importe dans « seveso-sites »"])
    if fmt == "insee" and slug != "population-grid":
        raise ImportFailed(name, [f"{name} : la grille Insee s'importe dans « population-grid »"])
    if fmt == "osm" and slug != "roads":
        raise ImportFailed(name, [f"{name} : un extrait OpenStreetMap s'importe dans « roads »"])
    if layer is not None and fmt not in GIS_FORMATS:
        raise ImportFailed(
            name, [f"{name} : --layer ne vaut que pour gpkg, shp, fgb et osm ({fmt} ici)"]
        )
    if encoding is None and fmt not in GIS_FORMATS:
        encoding = "utf-8-sig"
        if fmt == "icpe" and not _utf8_ok(path):
            encoding = "iso-8859-1"  # Géorisques exports are ISO-8859-1
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ImportFailed(name, [f"encodage « {encoding} » inconnu"]) from None
    epsg = proj.WGS84
    if crs is not None:
        try:
            epsg = parse_crs(crs)
            _check_crs(epsg)
        except CatalogueError as exc:
            raise ImportFailed(name, [f"{name} : {exc}"]) from None

    gis_layer: gis_files.Layer | None = None
    state = gis_files.ReadState()
    if fmt in GIS_FORMATS:
        try:
            gis_layer = gis_files.open_layer(
                path, fmt, layer, crs=epsg if crs is not None else None, encoding=encoding
            )
        except gis_files.GisFileError as exc:
            raise ImportFailed(name, [f"{name} : {exc}"]) from None
        _check_layer_geometry(gis_layer, dataset, name)

    # The territory's own outline defines the extent: it is checked against WGS84's bounds only
    # (a larger outline, e.g. a département, must be able to replace the current one).
    extent = WORLD if slug == "territory" else catalogue.territory_extent(db)
    report = _Report(name)
    digest = hashlib.sha256()
    # GIS layers are reprojected to WGS84 as they are read; the validator sees WGS84 only.
    validator = Validator(dataset, extent, proj.WGS84 if gis_layer is not None else epsg)
    tracker = ProgressTracker(size, progress)
    if gis_layer is not None:
        tracker.total_features = gis_layer.count
    text_encoding = encoding or "utf-8-sig"
    crs_given = crs is not None
    valid = _run(
        path, fmt, text_encoding, validator, report, crs_given, tracker, digest, gis_layer, state
    )
    count = 0

    def prepared() -> Iterator[PreparedFeature]:
        # Consumed inside write_features' transaction: raising here rolls everything back, so
        # the first problem stops the writing at once.
        nonlocal count
        for feature in valid:
            if report.problems:
                raise _Refused
            count += 1
            yield feature
        if not report.problems and count == 0:
            where = f"{name}, couche « {gis_layer.name} »" if gis_layer is not None else name
            skipped = (
                f" ({fr.count(state.skipped, 'ignorée', 'ignorées')} : {_reasons(state)})"
                if state.skipped
                else ""
            )
            report.problems.append(f"{where} : aucune entité à importer{skipped}")
        if report.problems:
            raise _Refused

    def details() -> dict[str, Any]:
        # Called once the whole file is read: the checksum and a legacy `crs` member are known.
        if gis_layer is not None:
            out: dict[str, Any] = {
                "format": fmt,
                "layer": gis_layer.name,
                "crs": gis_layer.crs_label,
                "sha256": _file_digest(path),
            }
        else:
            out = {"format": fmt, "crs": f"EPSG:{validator.epsg}", "sha256": digest.hexdigest()}
        skipped = report.skipped + state.skipped
        if skipped:
            out["skipped"] = skipped
        if state.skipped_reasons:
            out["skipped_reasons"] = state.skipped_reasons
        return out

    try:
        result = catalogue.write_features(
            db,
            now,
            slug,
            prepared(),
            actor=actor,
            file_name=name,
            replace=replace,
            details=details,
        )
    except _Refused:
        # Rolled back, nothing written. Read the rest of the file, outside the transaction, so
        # that every problem is reported, not just the first.
        for _ in valid:
            pass
        raise ImportFailed(name, report.problems, report.more) from None
    finally:
        valid.close()
    tracker.emit(force=True)
    return ImportResult(
        result.slug,
        result.revision,
        result.features,
        result.inserted,
        result.updated,
        result.removed,
        report.skipped + state.skipped,
    )


def _reasons(state: gis_files.ReadState) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(state.skipped_reasons.items()))


_GEOMETRY_FAMILY = {
    "Point": "Point",
    "MultiPoint": "Point",
    "LineString": "LineString",
    "MultiLineString": "LineString",
    "Polygon": "Polygon",
    "MultiPolygon": "Polygon",
}


def _check_layer_geometry(layer: gis_files.Layer, dataset: Dataset, name: str) -> None:
    """A layer whose declared geometry type cannot fit the dataset is refused at once."""
    declared = (layer.geometry_type or "").replace(" Z", "").replace(" M", "").replace("Z", "")
    family = _GEOMETRY_FAMILY.get(declared)
    expected = _GEOMETRY_FAMILY[dataset.geometry_type]
    if family is not None and family != expected:
        raise ImportFailed(
            name,
            [
                f"{name}, couche « {layer.name} » : géométries de type {layer.geometry_type},"
                f" « {dataset.slug} » attend des {dataset.geometry_type}"
            ],
        )


def csv_file_rows(
    path: Path, file_name: str, *, encoding: str = "utf-8-sig", progress: Any = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) of a CSV file, streaming (delimiter sniffed, NUL refused); CatalogueError."""
    with path.open("rb") as raw:
        reader = _TextReader(raw, encoding, file_name, progress)
        try:
            yield from _csv_rows(reader)
        except _Stop as exc:
            raise CatalogueError(_stop_message(exc, file_name)) from None
