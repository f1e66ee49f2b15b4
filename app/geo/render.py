"""Map renderer: zones + layers + extent -> one reportlab ``Drawing`` (docs/architecture.md).

The same ``Drawing`` is rendered to PDF (situation reports, printable A4/A3 extracts), SVG (the
event page) and PNG. Input geometry is shapely 2 in Lambert-93 metres; everything printed on the
map is French. The renderer never reads the database: callers decide what the user may see and
pass only that, flagging restricted layers so the page carries DIFFUSION RESTREINTE.

Drawing order: polygon layers (basemap first), zones (worst last, translucent), line and point
layers (in their order), closure points, the source, labels, then the furniture (legend, scale
bar, north and wind arrows, title bar, markings, attribution). North is Lambert-93 grid north
(about 2° off true north in the Seine estuary); the wind arrow is drawn on the grid bearing of
the true wind (``grid_convergence_deg``), so that it lines up with the plume drawn on the map.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from itertools import chain
from typing import Any, Protocol

import numpy as np
import shapely
from reportlab.graphics import renderPDF, renderSVG
from reportlab.graphics.shapes import (
    Circle,
    Drawing,
    Group,
    Image,
    Line,
    Path,
    Polygon,
    Rect,
    Shape,
    String,
)
from reportlab.lib import colors
from reportlab.lib.pagesizes import A3, A4, landscape
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import FILL_EVEN_ODD, FILL_NON_ZERO, Canvas
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from app import fr

__all__ = [
    "MapLayer",
    "MapZone",
    "MapSpec",
    "Viewport",
    "MapDrawing",
    "LabelRequest",
    "PlacedLabel",
    "PngUnavailableError",
    "fit_extent",
    "default_extent",
    "place_labels",
    "wind_arrow_points",
    "nice_distance",
    "format_distance",
    "render_map",
    "drawing_to_pdf",
    "drawing_to_svg",
    "drawing_to_png",
    "png_available",
    "scaled_drawing",
    "map_extract_pdf",
]

Extent = tuple[float, float, float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in points

FONT = "Helvetica"
FONT_BOLD = "Helvetica-Bold"
INK = colors.HexColor("#1a1a1a")
GREY = colors.HexColor("#5a5a5a")
MARK_RED = colors.HexColor("#c00000")
WIND_BLUE = colors.HexColor("#1f4e9c")
CLOSURE_RED = colors.HexColor("#d7191c")

# level -> (stroke, fill, fill alpha, legend order); zones are drawn worst last.
ZONE_STYLES: dict[str, tuple[str, str, float]] = {
    "yellow": ("#c9a400", "#ffe135", 0.35),
    "orange": ("#e06000", "#fd8d3c", 0.35),
    "red": ("#b2182b", "#e31a1c", 0.35),
}
ZONE_RANK = {"yellow": 0, "orange": 1, "red": 2}
ZONE_TEXT = {"yellow": "#6f5a00", "orange": "#a84300", "red": "#9e1b1b"}  # legible on the fills

PAPER_SIZES = {"A4": landscape(A4), "A3": landscape(A3)}
POINT_METRES = 0.0254 / 72  # one typographic point on paper, in metres


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class MapLayer:
    """One thematic layer: geometries of one kind drawn with one style and one legend entry."""

    title: str
    kind: str  # "polygon" | "line" | "point"
    geometries: Sequence[BaseGeometry]
    stroke: str = "#555555"
    fill: str | None = None
    width: float = 0.6
    radius: float = 2.0
    labels: Sequence[str | None] = ()
    restricted: bool = False
    symbol: str = "circle"  # circle | square | triangle | cross
    legend: bool = True


@dataclass(frozen=True)
class MapZone:
    """An impact zone to draw: its geometry, its level (red, orange, yellow) and its label."""

    geometry: BaseGeometry
    level: str
    label: str


class RasterUnderlay(Protocol):
    """A raster basemap that can draw itself under a Lambert-93 extent (app.basemap)."""

    def underlay(self, extent: Extent, width_px: int, height_px: int) -> Any: ...


@dataclass(frozen=True)
class MapSpec:
    """Everything a map shows; the renderer only adds layout."""

    title: str
    subtitle: str = ""
    extent: Extent | None = None
    zones: Sequence[MapZone] = ()
    layers: Sequence[MapLayer] = ()
    source: Point | None = None
    source_label: str = ""
    wind_from_deg: float | None = None
    wind_speed_ms: float | None = None
    grid_convergence_deg: float = 0.0  # true bearing − grid bearing at the source (PROJ's γ)
    # What the map's zones do not say (a generic distance, a zone leaving the data), in French:
    # printed in a box on the map, so an extract forwarded alone still says it.
    notes: Sequence[str] = ()
    closure_points: Sequence[tuple[Point, str]] = ()
    time_label: str = ""
    is_drill: bool = False
    restricted: bool = False
    attribution: str = (
        "Fond : IGN ADMIN EXPRESS (Licence Ouverte), données de démonstration synthétiques"
    )
    # A raster basemap drawn under everything (``app.basemap.Basemap``: its ``underlay(extent,
    # width_px, height_px)`` gives an RGBA PIL image of a Lambert-93 extent, or None).
    underlay: RasterUnderlay | None = None

    @property
    def is_restricted(self) -> bool:
        """True when the map must carry DIFFUSION RESTREINTE."""
        return self.restricted or any(
            layer.restricted and len(layer.geometries) > 0 for layer in self.layers
        )


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Viewport:
    """The map frame on the page and the Lambert-93 extent it shows, at one scale."""

    frame: Box  # page points
    extent: Extent  # Lambert-93 metres, same aspect ratio as the frame
    scale: float  # points per metre

    def to_page(self, x: float, y: float) -> tuple[float, float]:
        """Lambert-93 metres -> page points."""
        return (
            self.frame[0] + (x - self.extent[0]) * self.scale,
            self.frame[1] + (y - self.extent[1]) * self.scale,
        )

    def to_page_array(self, xy: np.ndarray) -> np.ndarray:
        """Vectorised ``to_page`` over an (n, 2) array."""
        origin = np.array([self.extent[0], self.extent[1]])
        offset = np.array([self.frame[0], self.frame[1]])
        return (xy - origin) * self.scale + offset

    @property
    def scale_denominator(self) -> float:
        """N in 1:N when the drawing is printed at its own size."""
        return 1.0 / (self.scale * POINT_METRES)


def fit_extent(extent: Extent, frame: Box) -> Viewport:
    """Fit a Lambert-93 extent into a page frame, same scale on both axes, centred.

    The extent is widened on one axis so that it fills the frame exactly; the requested extent is
    always fully visible.
    """
    x0, y0, x1, y1 = extent
    fw, fh = frame[2] - frame[0], frame[3] - frame[1]
    if fw <= 0 or fh <= 0:
        raise ValueError("empty map frame")
    ew, eh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    scale = min(fw / ew, fh / eh)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = fw / scale / 2, fh / scale / 2
    return Viewport(frame=frame, extent=(cx - hw, cy - hh, cx + hw, cy + hh), scale=scale)


def default_extent(spec: MapSpec, margin: float = 0.15) -> Extent:
    """The zones' bounds (else the layers', the source's) widened by ``margin`` on each side."""
    geoms: list[BaseGeometry] = [z.geometry for z in spec.zones]
    if not geoms:
        geoms = [g for layer in spec.layers for g in layer.geometries]
    if spec.source is not None:
        geoms.append(spec.source)
    bounds = shapely.total_bounds(np.array(geoms, dtype=object)) if geoms else None
    if bounds is None or not np.all(np.isfinite(bounds)):
        raise ValueError("the map has no extent and nothing to draw")
    x0, y0, x1, y1 = (float(v) for v in bounds)
    pad = max(x1 - x0, y1 - y0, 500.0) * margin
    return (x0 - pad, y0 - pad, x1 + pad, y1 + pad)


@dataclass
class _Prepared:
    """Geometries of one layer ready to draw, with the index of their input geometry."""

    geoms: np.ndarray
    index: np.ndarray


def _as_array(geoms: Iterable[BaseGeometry]) -> np.ndarray:
    items = list(geoms)
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr


def _prepare(
    geoms: Iterable[BaseGeometry],
    vp: Viewport,
    simplify_pt: float | None,
    kind: str,
    preserve_topology: bool = False,
) -> _Prepared:
    """Keep what falls in the extent, clipped, simplified for the scale, tiny features dropped.

    Topology-preserving simplification costs ten times more (0.66 s against 0.04 s for 270,000
    polygon vertices) and only matters for shapes read as areas, so zones ask for it and layers,
    where a sub-point difference cannot be seen, do not.
    """
    arr = _as_array(geoms)
    index = np.arange(len(arr))
    if len(arr) == 0:
        return _Prepared(arr, index)
    x0, y0, x1, y1 = vp.extent
    ok = ~shapely.is_missing(arr) & ~shapely.is_empty(arr)
    arr, index = arr[ok], index[ok]
    b = shapely.bounds(arr)
    inside = (b[:, 2] >= x0) & (b[:, 0] <= x1) & (b[:, 3] >= y0) & (b[:, 1] <= y1)
    arr, index, b = arr[inside], index[inside], b[inside]
    if kind == "point":
        return _Prepared(arr, index)
    if simplify_pt is not None:
        tiny = simplify_pt / vp.scale
        big = ((b[:, 2] - b[:, 0]) >= tiny) | ((b[:, 3] - b[:, 1]) >= tiny)
        arr, index, b = arr[big], index[big], b[big]
    # Clip only what crosses the frame: clip_by_rect is the expensive part on big layers.
    crossing = (b[:, 0] < x0) | (b[:, 1] < y0) | (b[:, 2] > x1) | (b[:, 3] > y1)
    if crossing.any():
        arr = arr.copy()
        arr[crossing] = shapely.clip_by_rect(arr[crossing], x0, y0, x1, y1)
    if simplify_pt is not None:
        arr = shapely.simplify(arr, simplify_pt / vp.scale, preserve_topology=preserve_topology)
    keep = ~shapely.is_empty(arr)
    return _Prepared(arr[keep], index[keep])


def _ring_paths(
    geoms: np.ndarray, vp: Viewport, polygons: bool
) -> tuple[np.ndarray, list[list[float]], list[list[int]]]:
    """Page-coordinate (points, operators) per geometry, for reportlab ``Path`` objects.

    Returns the geometry index of each non-empty path with its points and operators. Parts of the
    other dimension (e.g. lines left over by a polygon clip) are skipped.
    """
    n = len(geoms)
    if n == 0:
        return np.empty(0, dtype=int), [], []
    parts, part_geom = shapely.get_parts(geoms, return_index=True)
    type_ids = shapely.get_type_id(parts)
    wanted = type_ids == 3 if polygons else (type_ids == 1) | (type_ids == 2)
    parts, part_geom = parts[wanted], part_geom[wanted]
    if polygons:
        # Shells counter-clockwise, holes clockwise: paths merged with the non-zero rule then
        # fill the union of the polygons and keep their holes.
        parts = shapely.orient_polygons(parts)
        lines, line_part = shapely.get_rings(parts, return_index=True)
        line_geom = part_geom[line_part]
    else:
        lines, line_geom = parts, part_geom
    counts = shapely.get_num_coordinates(lines)
    coords = shapely.get_coordinates(lines)
    flat = np.round(vp.to_page_array(coords), 2).ravel().tolist()
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).tolist()
    points: list[list[float]] = [[] for _ in range(n)]
    ops: list[list[int]] = [[] for _ in range(n)]
    for g, start, count in zip(line_geom.tolist(), starts, counts.tolist(), strict=True):
        if polygons:
            if count < 4:
                continue
            points[g].extend(flat[2 * start : 2 * (start + count - 1)])
            ops[g].extend([0] + [1] * (count - 2) + [3])
        else:
            if count < 2:
                continue
            points[g].extend(flat[2 * start : 2 * (start + count)])
            ops[g].extend([0] + [1] * (count - 1))
    drawn = np.array([i for i in range(n) if ops[i]], dtype=int)
    return drawn, [points[i] for i in drawn], [ops[i] for i in drawn]


def _path(points: list[float], operators: list[int], **style: object) -> Path:
    """A reportlab Path filled in place: assigning big lists would validate every number."""
    path = Path(**style)
    path.points.extend(points)
    path.operators.extend(operators)
    return path


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class LabelRequest:
    """A label to place near an anchor; candidate offsets are tried in order."""

    text: str
    x: float
    y: float
    font_size: float = 6.5
    offsets: tuple[tuple[float, float, str], ...] = ((0.0, 0.0, "middle"),)
    bold: bool = False
    color: str = "#1a1a1a"


@dataclass(frozen=True)
class PlacedLabel:
    """A label that found room: its baseline anchor, text anchor and box (page points)."""

    text: str
    x: float
    y: float
    anchor: str
    font_size: float
    box: Box
    bold: bool = False
    color: str = "#1a1a1a"


def point_label_offsets(radius: float, font_size: float) -> tuple[tuple[float, float, str], ...]:
    """Right, left, above, below a point symbol of ``radius`` (baseline offsets)."""
    gap = radius + 1.5
    # Baselines chosen so that the four boxes around one point never overlap each other.
    return (
        (gap, -font_size * 0.35, "start"),
        (-gap, -font_size * 0.35, "end"),
        (0.0, max(gap, font_size * 0.45 + 1.0) + font_size * 0.25 + 2.5, "middle"),
        (0.0, -max(gap, font_size * 0.6 + 1.0) - font_size * 0.8 - 2.5, "middle"),
    )


def _label_box(text: str, x: float, y: float, anchor: str, size: float, bold: bool) -> Box:
    w = stringWidth(text, FONT_BOLD if bold else FONT, size)
    x0 = x if anchor == "start" else x - w if anchor == "end" else x - w / 2
    pad = 1.0
    return (x0 - pad, y - size * 0.25 - pad, x0 + w + pad, y + size * 0.8 + pad)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(a: Box, b: Box) -> bool:
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


class _BoxIndex:
    """Boxes bucketed on a coarse grid, so a page with thousands of symbols stays fast."""

    def __init__(self, cell: float = 24.0) -> None:
        self.cell = cell
        self.buckets: dict[tuple[int, int], list[Box]] = {}

    def _keys(self, box: Box) -> Iterable[tuple[int, int]]:
        c = self.cell
        for i in range(math.floor(box[0] / c), math.floor(box[2] / c) + 1):
            for j in range(math.floor(box[1] / c), math.floor(box[3] / c) + 1):
                yield (i, j)

    def add(self, box: Box) -> None:
        for key in self._keys(box):
            self.buckets.setdefault(key, []).append(box)

    def hits(self, box: Box) -> bool:
        return any(
            _overlaps(box, other) for key in self._keys(box) for other in self.buckets.get(key, ())
        )


def place_labels(
    requests: Iterable[LabelRequest],
    obstacles: Iterable[Box] = (),
    bounds: Box | None = None,
    gap: float = 1.0,
) -> list[PlacedLabel]:
    """Greedy placement: each label takes its first candidate that overlaps nothing placed.

    Requests are taken in order (put the important ones first); a label with no free candidate
    is dropped, so labels never pile up. Placed labels keep ``gap`` points between them; boxes
    must also stay inside ``bounds`` when given.
    """
    taken = _BoxIndex()
    for box in obstacles:
        taken.add(box)
    placed: list[PlacedLabel] = []
    for req in requests:
        if not req.text:
            continue
        for dx, dy, anchor in req.offsets:
            x, y = req.x + dx, req.y + dy
            box = _label_box(req.text, x, y, anchor, req.font_size, req.bold)
            if bounds is not None and not _inside(box, bounds):
                continue
            if taken.hits(box):
                continue
            taken.add((box[0] - gap, box[1] - gap, box[2] + gap, box[3] + gap))
            placed.append(
                PlacedLabel(req.text, x, y, anchor, req.font_size, box, req.bold, req.color)
            )
            break
    return placed


# --------------------------------------------------------------------------- furniture helpers


def wind_arrow_points(
    from_deg: float, cx: float, cy: float, length: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(tail, head) of an arrow centred on (cx, cy) pointing where a wind *from* ``from_deg`` goes.

    Bearings are clockwise from north; page y points up (north).
    """
    to = math.radians((from_deg + 180.0) % 360.0)
    dx, dy = math.sin(to) * length / 2, math.cos(to) * length / 2
    return (cx - dx, cy - dy), (cx + dx, cy + dy)


def nice_distance(max_metres: float) -> float:
    """The largest 1, 2 or 5 x 10^k metres not above ``max_metres``."""
    if max_metres <= 0:
        raise ValueError("max_metres must be positive")
    exp = math.floor(math.log10(max_metres))
    for mult in (5, 2, 1):
        d = mult * 10.0**exp
        if d <= max_metres * (1 + 1e-9):
            return d
    return 10.0**exp  # pragma: no cover - 1 x 10^exp always fits


def format_distance(metres: float) -> str:
    """French distance label: ``250 m``, ``1 km``, ``2,5 km``."""
    if metres < 1000:
        return f"{fr.decimal(metres, 0)} m"
    return f"{fr.decimal(metres / 1000, 2)} km"


def _color(value: str | None) -> colors.Color | None:
    if value is None:
        return None
    if value.startswith("#") and len(value) == 9:
        return colors.HexColor(value, hasAlpha=True)
    return colors.toColor(value)


def _alpha(value: str, alpha: float) -> colors.Color:
    c = colors.toColor(value)
    return colors.Color(c.red, c.green, c.blue, alpha=alpha)


def _text(
    x: float,
    y: float,
    text: str,
    size: float,
    color: colors.Color = INK,
    bold: bool = False,
    anchor: str = "start",
) -> String:
    return String(
        x,
        y,
        text,
        fontName=FONT_BOLD if bold else FONT,
        fontSize=size,
        fillColor=color,
        textAnchor=anchor,
    )


def _fit_text(text: str, size: float, max_width: float, bold: bool = False) -> str:
    """Shorten ``text`` with an ellipsis so that it fits ``max_width``."""
    font = FONT_BOLD if bold else FONT
    if stringWidth(text, font, size) <= max_width:
        return text
    while text and stringWidth(text + "…", font, size) > max_width:
        text = text[:-1]
    return text.rstrip() + "…"


def _symbol(
    kind: str,
    x: float,
    y: float,
    r: float,
    stroke: colors.Color | None,
    fill: colors.Color | None,
    width: float = 0.5,
) -> Shape:
    if kind == "square":
        return Rect(
            x - r, y - r, 2 * r, 2 * r, strokeColor=stroke, fillColor=fill, strokeWidth=width
        )
    if kind == "triangle":
        h = r * 1.25
        pts = [x - h, y - h * 0.75, x + h, y - h * 0.75, x, y + h * 1.05]
        return Polygon(pts, strokeColor=stroke, fillColor=fill, strokeWidth=width)
    if kind == "cross":
        ops = [0, 1, 0, 1]
        pts = [x - r, y - r, x + r, y + r, x - r, y + r, x + r, y - r]
        return Path(pts, ops, strokeColor=fill or stroke, fillColor=None, strokeWidth=width * 2)
    return Circle(x, y, r, strokeColor=stroke, fillColor=fill, strokeWidth=width)


def _closure_symbol(x: float, y: float, r: float) -> Group:
    """Road closure: a red disc with a white bar (the French 'sens interdit' sign)."""
    return Group(
        Circle(x, y, r, fillColor=CLOSURE_RED, strokeColor=colors.white, strokeWidth=0.6),
        Rect(x - r * 0.62, y - r * 0.2, r * 1.24, r * 0.4, fillColor=colors.white, strokeWidth=0),
    )


def _source_symbol(x: float, y: float, r: float) -> Polygon:
    """A five-pointed star, black with a white outline, for the release point."""
    pts: list[float] = []
    for i in range(10):
        rad = r if i % 2 == 0 else r * 0.45
        a = math.radians(90 + 36 * i)
        pts.extend([x + rad * math.cos(a), y + rad * math.sin(a)])
    return Polygon(pts, fillColor=INK, strokeColor=colors.white, strokeWidth=0.7)


def _arrow(
    tail: tuple[float, float], head: tuple[float, float], color: colors.Color, width: float
) -> Group:
    (tx, ty), (hx, hy) = tail, head
    ang = math.atan2(hy - ty, hx - tx)
    size = width * 3.2
    bx, by = hx - size * math.cos(ang), hy - size * math.sin(ang)
    px, py = -math.sin(ang) * size * 0.55, math.cos(ang) * size * 0.55
    return Group(
        Line(tx, ty, bx, by, strokeColor=color, strokeWidth=width),
        Polygon(
            [hx, hy, bx + px, by + py, bx - px, by - py],
            fillColor=color,
            strokeColor=color,
            strokeWidth=0.3,
        ),
    )


# --------------------------------------------------------------------------- composition


@dataclass
class _Layout:
    width: float
    height: float
    k: float
    band: Box | None
    title: Box
    frame: Box
    footer: Box
    obstacles: list[Box] = field(default_factory=list)


def _layout(spec: MapSpec, width: float, height: float) -> _Layout:
    k = max(0.75, min(1.35, min(width, height) / 520.0))
    margin = 4 * k
    top = height
    band = None
    if spec.is_drill or spec.is_restricted:
        band = (0.0, height - 14 * k, width, height)
        top = band[1]
    title_h = (30 if spec.subtitle or spec.time_label else 22) * k
    title = (margin, top - title_h, width - margin, top)
    footer = (margin, 0.0, width - margin, 11 * k)
    frame = (margin, footer[3], width - margin, title[1] - 2 * k)
    return _Layout(width, height, k, band, title, frame, footer)


def _draw_markings(d: Group, spec: MapSpec, lay: _Layout) -> None:
    if lay.band is None:
        return
    x0, y0, x1, y1 = lay.band
    k = lay.k
    size = 9 * k
    base = y0 + (y1 - y0 - size * 0.7) / 2
    split = x1 if not spec.is_restricted else x0 + (x1 - x0) * (0.6 if spec.is_drill else 0.0)
    if spec.is_drill:
        d.add(Rect(x0, y0, split - x0, y1 - y0, fillColor=MARK_RED, strokeColor=None))
        d.add(
            _text(
                (x0 + split) / 2,
                base,
                "EXERCICE — EXERCICE — EXERCICE",
                size,
                colors.white,
                True,
                "middle",
            )
        )
    if spec.is_restricted:
        inset = 0.8
        d.add(
            Rect(
                split + inset,
                y0 + inset,
                x1 - split - 2 * inset,
                y1 - y0 - 2 * inset,
                fillColor=colors.white,
                strokeColor=MARK_RED,
                strokeWidth=1.2,
            )
        )
        d.add(_text((split + x1) / 2, base, "DIFFUSION RESTREINTE", size, MARK_RED, True, "middle"))


def _draw_title(d: Group, spec: MapSpec, lay: _Layout) -> None:
    x0, y0, x1, y1 = lay.title
    k = lay.k
    time_w = stringWidth(spec.time_label, FONT, 8 * k) if spec.time_label else 0.0
    avail = x1 - x0 - time_w - 12 * k
    d.add(
        _text(
            x0 + 2 * k,
            y1 - 14 * k,
            _fit_text(spec.title, 12.5 * k, avail, True),
            12.5 * k,
            INK,
            True,
        )
    )
    if spec.subtitle:
        d.add(_text(x0 + 2 * k, y1 - 25 * k, _fit_text(spec.subtitle, 8 * k, avail), 8 * k, GREY))
    if spec.time_label:
        d.add(_text(x1 - 2 * k, y1 - 13 * k, spec.time_label, 8 * k, INK, True, "end"))
    d.add(Line(x0, y0 + 1 * k, x1, y0 + 1 * k, strokeColor=INK, strokeWidth=1.2 * k))


def _draw_footer(d: Group, spec: MapSpec, lay: _Layout) -> None:
    x0, y0, x1, y1 = lay.footer
    size = 5.8 * lay.k
    right = "Projection Lambert-93 (EPSG:2154)"
    rw = stringWidth(right, FONT, size)
    text = _fit_text(spec.attribution, size, x1 - x0 - rw - 12)
    d.add(_text(x0 + 1, y0 + 3.5 * lay.k, text, size, GREY))
    d.add(_text(x1 - 1, y0 + 3.5 * lay.k, right, size, GREY, anchor="end"))


def _draw_watermark(d: Group, frame: Box) -> None:
    x0, y0, x1, y1 = frame
    w, h = x1 - x0, y1 - y0
    ang = math.atan2(h, w)
    size = min(w / 5.5, h / 2.5)
    g = Group(_text(0, -size * 0.35, "EXERCICE", size, _alpha("#c00000", 0.10), True, "middle"))
    c, s = math.cos(ang), math.sin(ang)
    g.transform = (c, s, -s, c, x0 + w / 2, y0 + h / 2)
    d.add(g)


@dataclass
class _LegendEntry:
    kind: str  # header | zone | polygon | line | point | closure | source
    text: str
    stroke: colors.Color | None = None
    fill: colors.Color | None = None
    width: float = 0.6
    symbol: str = "circle"
    radius: float = 2.0


def _legend_entries(spec: MapSpec) -> list[_LegendEntry]:
    out: list[_LegendEntry] = []
    zones = sorted(spec.zones, key=lambda z: -ZONE_RANK.get(z.level, -1))
    if zones:
        out.append(_LegendEntry("header", "Zones d'effets"))
        for z in zones:
            stroke, fill, alpha = ZONE_STYLES.get(z.level, ZONE_STYLES["yellow"])
            out.append(_LegendEntry("zone", z.label, _color(stroke), _alpha(fill, alpha + 0.15)))
    if spec.source is not None:
        out.append(_LegendEntry("source", spec.source_label or "Source"))
    if spec.closure_points:
        out.append(_LegendEntry("closure", "Points de bouclage"))
    layers = [layer for layer in spec.layers if layer.legend]
    if layers:
        if out:
            out.append(_LegendEntry("header", "Légende"))
        for layer in reversed(layers):  # topmost first, as drawn
            out.append(
                _LegendEntry(
                    layer.kind,
                    layer.title,
                    _color(layer.stroke),
                    _color(layer.fill),
                    layer.width,
                    layer.symbol,
                    layer.radius,
                )
            )
    return out


def _legend_size(entries: list[_LegendEntry], k: float, max_h: float) -> tuple[float, float, int]:
    row, head = 10.5 * k, 12 * k
    width = 0.0
    h = 6 * k
    shown = 0
    for e in entries:
        rh = head if e.kind == "header" else row
        if h + rh > max_h:
            break
        h += rh
        shown += 1
        size = 7.5 * k if e.kind == "header" else 6.8 * k
        tw = stringWidth(e.text, FONT_BOLD if e.kind == "header" else FONT, size)
        width = max(width, tw + (0 if e.kind == "header" else 22 * k))
    return min(width + 12 * k, 190 * k), h, shown


def _draw_legend(d: Group, entries: list[_LegendEntry], box: Box, shown: int, k: float) -> None:
    x0, y0, x1, y1 = box
    d.add(
        Rect(
            x0,
            y0,
            x1 - x0,
            y1 - y0,
            fillColor=_alpha("#ffffff", 0.9),
            strokeColor=GREY,
            strokeWidth=0.5,
        )
    )
    y = y1 - 3 * k
    sx = x0 + 6 * k
    tx = sx + 20 * k
    max_text = x1 - tx - 4 * k
    for e in entries[:shown]:
        if e.kind == "header":
            y -= 12 * k
            d.add(
                _text(
                    sx,
                    y + 3 * k,
                    _fit_text(e.text, 7.5 * k, x1 - sx - 4 * k, True),
                    7.5 * k,
                    INK,
                    True,
                )
            )
            continue
        y -= 10.5 * k
        cy = y + 4.2 * k
        if e.kind in ("zone", "polygon"):
            d.add(
                Rect(
                    sx,
                    cy - 3.5 * k,
                    15 * k,
                    7 * k,
                    fillColor=e.fill,
                    strokeColor=e.stroke,
                    strokeWidth=0.9 if e.kind == "zone" else max(e.width, 0.4),
                )
            )
        elif e.kind == "line":
            d.add(
                Line(sx, cy, sx + 15 * k, cy, strokeColor=e.stroke, strokeWidth=max(e.width, 0.5))
            )
        elif e.kind == "point":
            d.add(
                _symbol(
                    e.symbol,
                    sx + 7.5 * k,
                    cy,
                    max(min(e.radius, 4.0), 2.0) * k,
                    e.stroke,
                    e.fill or e.stroke,
                )
            )
        elif e.kind == "closure":
            d.add(_closure_symbol(sx + 7.5 * k, cy, 3.6 * k))
        elif e.kind == "source":
            d.add(_source_symbol(sx + 7.5 * k, cy, 5 * k))
        d.add(_text(tx, y + 2 * k, _fit_text(e.text, 6.8 * k, max_text), 6.8 * k))
    if shown < len(entries):
        d.add(_text(x1 - 4 * k, y0 + 2 * k, "…", 6.8 * k, GREY, anchor="end"))


def _draw_scale_bar(d: Group, vp: Viewport, k: float) -> Box:
    fx0, fy0, fx1, _ = vp.frame
    length_m = nice_distance(0.22 * (fx1 - fx0) / vp.scale)
    length_pt = length_m * vp.scale
    x, y = fx0 + 8 * k, fy0 + 8 * k
    bar_h = 3.2 * k
    box = (fx0 + 3 * k, fy0 + 3 * k, x + length_pt + 14 * k, y + bar_h + 13 * k)
    d.add(
        Rect(
            box[0],
            box[1],
            box[2] - box[0],
            box[3] - box[1],
            fillColor=_alpha("#ffffff", 0.85),
            strokeColor=None,
        )
    )
    quarter = length_pt / 4
    for i in range(4):
        d.add(
            Rect(
                x + i * quarter,
                y,
                quarter,
                bar_h,
                strokeColor=INK,
                strokeWidth=0.5,
                fillColor=INK if i % 2 == 0 else colors.white,
            )
        )
    size = 6.3 * k
    for frac, label in (
        (0, "0"),
        (0.5, format_distance(length_m / 2)),
        (1, format_distance(length_m)),
    ):
        d.add(_text(x + frac * length_pt, y + bar_h + 2.5 * k, label, size, INK, anchor="middle"))
    return box


NOTE_INK = "#6b3800"


def _draw_notes(d: Group, notes: Sequence[str], vp: Viewport, below: Box, k: float) -> Box:
    """The notes in a box at the bottom left, above the scale bar (amber, like the screen)."""
    from reportlab.lib.utils import simpleSplit

    fx0, fy0, fx1, fy1 = vp.frame
    size = 6.3 * k
    width = min(0.46 * (fx1 - fx0), 330 * k)
    lines: list[str] = []
    for note in notes:
        lines += simpleSplit(note, FONT, size, width - 10 * k)
    lines = lines[: max(1, int(0.4 * (fy1 - fy0) / (size * 1.25)))]
    height = len(lines) * size * 1.25 + 7 * k
    x0, y0 = fx0 + 3 * k, below[3] + 4 * k
    box = (x0, y0, x0 + width, y0 + height)
    d.add(
        Rect(
            x0,
            y0,
            width,
            height,
            fillColor=_alpha("#fff4e0", 0.92),
            strokeColor=_color("#c77700"),
            strokeWidth=0.7 * k,
        )
    )
    y = y0 + height - 4 * k - size
    for line in lines:
        d.add(_text(x0 + 5 * k, y, line, size, _color(NOTE_INK)))
        y -= size * 1.25
    return box


def _draw_compass(d: Group, spec: MapSpec, vp: Viewport, k: float) -> Box:
    _, _, fx1, fy1 = vp.frame
    has_wind = spec.wind_from_deg is not None
    cell = 30 * k
    wind_label = ""
    if spec.wind_from_deg is not None:
        wind_label = f"Vent du {round(spec.wind_from_deg) % 360:03d}°"
        if spec.wind_speed_ms is not None:
            wind_label += f" — {fr.decimal(spec.wind_speed_ms, 1)} m/s"
    label_w = stringWidth(wind_label, FONT, 6.5 * k) if has_wind else 0.0
    width = max(cell * (2 if has_wind else 1), label_w + 8 * k)
    height = cell + (10 * k if has_wind else 0)
    box = (fx1 - 4 * k - width, fy1 - 4 * k - height, fx1 - 4 * k, fy1 - 4 * k)
    d.add(
        Rect(
            box[0],
            box[1],
            width,
            height,
            fillColor=_alpha("#ffffff", 0.88),
            strokeColor=GREY,
            strokeWidth=0.5,
        )
    )
    # North arrow: a split triangle under an "N".
    ncx = box[0] + (cell / 2 if has_wind else width / 2)
    top = box[3] - 11 * k
    base = box[3] - cell + 3 * k
    half = 5 * k
    d.add(_text(ncx, top + 2 * k, "N", 8 * k, INK, True, "middle"))
    d.add(
        Polygon(
            [ncx, top, ncx - half, base, ncx, base + 4 * k],
            fillColor=INK,
            strokeColor=INK,
            strokeWidth=0.5,
        )
    )
    d.add(
        Polygon(
            [ncx, top, ncx + half, base, ncx, base + 4 * k],
            fillColor=colors.white,
            strokeColor=INK,
            strokeWidth=0.5,
        )
    )
    if spec.wind_from_deg is not None:
        wcx = box[0] + width - cell / 2 - (width - 2 * cell) / 2
        wcy = box[3] - cell / 2
        d.add(
            Circle(
                wcx,
                wcy,
                cell * 0.4,
                fillColor=None,
                strokeColor=_alpha("#1f4e9c", 0.35),
                strokeWidth=0.5,
                strokeDashArray=[1.5, 1.5],
            )
        )
        grid_from = spec.wind_from_deg - spec.grid_convergence_deg  # the page is the grid
        tail, head = wind_arrow_points(grid_from, wcx, wcy, cell * 0.75)
        d.add(_arrow(tail, head, WIND_BLUE, 1.6 * k))
        d.add(
            _text(
                (box[0] + box[2]) / 2,
                box[1] + 3.5 * k,
                wind_label,
                6.5 * k,
                WIND_BLUE,
                anchor="middle",
            )
        )
    return box


def _zone_paths(spec: MapSpec, vp: Viewport, simplify_pt: float | None) -> list[Shape]:
    zones = sorted(spec.zones, key=lambda z: ZONE_RANK.get(z.level, -1))
    prepared = _prepare([z.geometry for z in zones], vp, simplify_pt, "polygon", True)
    drawn, pts, ops = _ring_paths(prepared.geoms, vp, polygons=True)
    shapes: list[Shape] = []
    for i, p, o in zip(drawn.tolist(), pts, ops, strict=True):
        zone = zones[int(prepared.index[i])]
        stroke, fill, alpha = ZONE_STYLES.get(zone.level, ZONE_STYLES["yellow"])
        shapes.append(
            _path(
                p,
                o,
                fillColor=_alpha(fill, alpha),
                strokeColor=_color(stroke),
                strokeWidth=1.1,
                strokeLineJoin=1,
                fillMode=FILL_EVEN_ODD,
            )
        )
    return shapes


def _layer_shapes(
    layer: MapLayer, vp: Viewport, simplify_pt: float | None, k: float
) -> tuple[list[Shape], list[LabelRequest], list[Box]]:
    """Shapes, label requests and symbol boxes (obstacles for labels) of one layer."""
    prepared = _prepare(layer.geometries, vp, simplify_pt, layer.kind)
    stroke, fill = _color(layer.stroke), _color(layer.fill)
    shapes: list[Shape] = []
    labels: list[LabelRequest] = []
    boxes: list[Box] = []
    size = 6.5 * k

    def label_of(i: int) -> str | None:
        j = int(prepared.index[i])
        return layer.labels[j] if j < len(layer.labels) else None

    if layer.kind == "point":
        x0, y0, x1, y1 = vp.extent
        offsets = point_label_offsets(layer.radius, size)
        for i, geom in enumerate(prepared.geoms):
            xy = shapely.get_coordinates(geom)
            inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
            page = vp.to_page_array(xy[inside])
            r = layer.radius
            for px, py in page.tolist():
                boxes.append((px - r, py - r, px + r, py + r))
                shapes.append(
                    _symbol(
                        layer.symbol,
                        px,
                        py,
                        layer.radius,
                        stroke,
                        fill or stroke,
                        max(layer.width * 0.6, 0.3),
                    )
                )
            text = label_of(i)
            if text and len(page):
                labels.append(LabelRequest(text, page[0][0], page[0][1], size, offsets))
        return shapes, labels, boxes

    polygons = layer.kind == "polygon"
    drawn, pts, ops = _ring_paths(prepared.geoms, vp, polygons=polygons)
    if drawn.size:
        # One path per layer: a page of thousands of features costs one set of graphic state
        # changes instead of thousands, which is most of reportlab's rendering time.
        shapes.append(
            _path(
                [v for p in pts for v in p],
                [v for o in ops for v in o],
                fillColor=fill if polygons else None,
                strokeColor=stroke,
                strokeWidth=layer.width,
                strokeLineJoin=1,
                strokeLineCap=1,
                fillMode=FILL_NON_ZERO,
            )
        )
    if layer.labels:
        for i in drawn.tolist():
            text = label_of(i)
            if not text:
                continue
            geom = prepared.geoms[i]
            anchor = (
                shapely.point_on_surface(geom)
                if polygons
                else shapely.line_interpolate_point(geom, 0.5, normalized=True)
            )
            if anchor.is_empty:
                continue
            ax, ay = vp.to_page(anchor.x, anchor.y)
            labels.append(LabelRequest(text, ax, ay - size * 0.3, size))
    return shapes, labels, boxes


def _zone_labels(spec: MapSpec, vp: Viewport, k: float) -> list[LabelRequest]:
    """Each zone's label just inside its northernmost visible point, worst zone first."""
    size = 7 * k
    out: list[LabelRequest] = []
    for zone in sorted(spec.zones, key=lambda z: -ZONE_RANK.get(z.level, -1)):
        clipped = shapely.clip_by_rect(zone.geometry, *vp.extent)
        xy = shapely.get_coordinates(shapely.boundary(clipped))
        if not len(xy):
            continue
        x, y = xy[int(np.argmax(xy[:, 1]))]
        px, py = vp.to_page(float(x), float(y))
        stroke = ZONE_TEXT.get(zone.level, ZONE_TEXT["yellow"])
        offsets = ((0.0, -size * 1.4, "middle"), (0.0, -size * 2.6, "middle"), (0, 3.0, "middle"))
        out.append(LabelRequest(zone.label, px, py, size, offsets, bold=True, color=stroke))
    return out


def _legend_box(spec: MapSpec, vp: Viewport, width: float, height: float, k: float) -> Box:
    """Bottom-right, or top-left when the zones sit under bottom-right."""
    fx0, fy0, fx1, fy1 = vp.frame
    candidates = [
        (fx1 - 4 * k - width, fy0 + 4 * k, fx1 - 4 * k, fy0 + 4 * k + height),
        (fx0 + 4 * k, fy1 - 4 * k - height, fx0 + 4 * k + width, fy1 - 4 * k),
    ]
    if not spec.zones:
        return candidates[0]
    zones = shapely.union_all([z.geometry for z in spec.zones])

    def covered(box: Box) -> float:
        x0, y0 = vp.extent[0] + (box[0] - fx0) / vp.scale, vp.extent[1] + (box[1] - fy0) / vp.scale
        x1, y1 = vp.extent[0] + (box[2] - fx0) / vp.scale, vp.extent[1] + (box[3] - fy0) / vp.scale
        return float(shapely.area(shapely.clip_by_rect(zones, x0, y0, x1, y1)))

    return min(candidates, key=covered)


RASTER_DPI = 150.0  # the raster basemap's resolution on a printed extract
SCREEN_DPI = 96.0
FRAME_BACKGROUND = "#fbfaf6"


def _underlay(spec: MapSpec, vp: Viewport, dpi: float) -> Image | None:
    """The raster basemap under the frame, flattened on the frame's background colour."""
    if spec.underlay is None:
        return None
    from PIL import Image as PILImage

    fx0, fy0, fx1, fy1 = vp.frame
    w, h = fx1 - fx0, fy1 - fy0
    px, py = max(1, round(w * dpi / 72)), max(1, round(h * dpi / 72))
    raster = spec.underlay.underlay(vp.extent, px, py)
    if raster is None:
        return None
    flat = PILImage.new("RGB", raster.size, FRAME_BACKGROUND)
    flat.paste(raster, mask=raster.getchannel("A") if raster.mode == "RGBA" else None)
    flat.info["photo"] = raster.info.get("photo", False)
    return Image(fx0, fy0, w, h, flat)


def _compose(
    spec: MapSpec,
    width_pt: float,
    height_pt: float,
    simplify_pt: float | None,
    raster_dpi: float = SCREEN_DPI,
) -> tuple[Drawing, Viewport]:
    lay = _layout(spec, width_pt, height_pt)
    k = lay.k
    extent = spec.extent if spec.extent is not None else default_extent(spec)
    vp = fit_extent(extent, lay.frame)
    fx0, fy0, fx1, fy1 = vp.frame

    d = MapDrawing(width_pt, height_pt)
    d.add(Rect(0, 0, width_pt, height_pt, fillColor=colors.white, strokeColor=None))
    d.add(
        Rect(
            fx0,
            fy0,
            fx1 - fx0,
            fy1 - fy0,
            fillColor=colors.HexColor(FRAME_BACKGROUND),
            strokeColor=None,
        )
    )
    raster = _underlay(spec, vp, raster_dpi)
    if raster is not None:
        d.add(raster)

    labels: list[LabelRequest] = []
    obstacles: list[Box] = []
    layer_labels: list[list[LabelRequest]] = []
    polygon_layers = [layer for layer in spec.layers if layer.kind == "polygon"]
    other_layers = [layer for layer in spec.layers if layer.kind != "polygon"]
    for layer in polygon_layers:
        shapes, reqs, boxes = _layer_shapes(layer, vp, simplify_pt, k)
        d.add(Group(*shapes))
        layer_labels.append(reqs)
        obstacles.extend(boxes)
    d.add(Group(*_zone_paths(spec, vp, simplify_pt)))
    for layer in other_layers:
        shapes, reqs, boxes = _layer_shapes(layer, vp, simplify_pt, k)
        d.add(Group(*shapes))
        layer_labels.append(reqs)
        obstacles.extend(boxes)

    size = 6.8 * k
    r_closure = 4.2 * k
    for pt, text in spec.closure_points:
        px, py = vp.to_page(pt.x, pt.y)
        if fx0 <= px <= fx1 and fy0 <= py <= fy1:
            d.add(_closure_symbol(px, py, r_closure))
            obstacles.append((px - r_closure, py - r_closure, px + r_closure, py + r_closure))
            labels.append(LabelRequest(text, px, py, size, point_label_offsets(r_closure, size)))
    labels[:0] = _zone_labels(spec, vp, k)
    if spec.source is not None:
        sx, sy = vp.to_page(spec.source.x, spec.source.y)
        if fx0 <= sx <= fx1 and fy0 <= sy <= fy1:
            r = 6 * k
            d.add(_source_symbol(sx, sy, r))
            obstacles.append((sx - r, sy - r, sx + r, sy + r))
            if spec.source_label:
                labels.insert(
                    0,
                    LabelRequest(
                        spec.source_label,
                        sx,
                        sy,
                        7.5 * k,
                        point_label_offsets(r, 7.5 * k),
                        bold=True,
                    ),
                )
    for reqs in reversed(layer_labels):  # the layers drawn last matter most
        labels.extend(reqs)

    if spec.is_drill:
        _draw_watermark(d, vp.frame)

    # Furniture: its boxes are obstacles for the labels, placed before them.
    entries = _legend_entries(spec)
    furniture = Group()
    if entries:
        lw, lh, shown = _legend_size(entries, k, (fy1 - fy0) * 0.62)
        lbox = _legend_box(spec, vp, lw, lh, k)
        _draw_legend(furniture, entries, lbox, shown, k)
        obstacles.append(lbox)
    scale_box = _draw_scale_bar(furniture, vp, k)
    obstacles.append(scale_box)
    obstacles.append(_draw_compass(furniture, spec, vp, k))
    if spec.notes:
        obstacles.append(_draw_notes(furniture, spec.notes, vp, scale_box, k))

    inner = (fx0 + 1, fy0 + 1, fx1 - 1, fy1 - 1)
    for lab in place_labels(labels, obstacles, inner):
        bx0, by0, bx1, by1 = lab.box
        d.add(
            Rect(
                bx0, by0, bx1 - bx0, by1 - by0, fillColor=_alpha("#ffffff", 0.72), strokeColor=None
            )
        )
        d.add(
            _text(
                lab.x,
                lab.y,
                lab.text,
                lab.font_size,
                _color(lab.color) or INK,
                lab.bold,
                lab.anchor,
            )
        )

    d.add(furniture)
    d.add(Rect(fx0, fy0, fx1 - fx0, fy1 - fy0, fillColor=None, strokeColor=INK, strokeWidth=0.8))
    _draw_title(d, spec, lay)
    _draw_markings(d, spec, lay)
    _draw_footer(d, spec, lay)
    return d, vp


def render_map(
    spec: MapSpec,
    width_pt: float,
    height_pt: float,
    simplify_pt: float | None = 0.5,
    raster_dpi: float = SCREEN_DPI,
) -> Drawing:
    """Render ``spec`` as one reportlab Drawing of ``width_pt`` x ``height_pt`` points.

    ``simplify_pt`` is the simplification tolerance in page points (features smaller than it are
    dropped); ``None`` draws the geometry as given. ``raster_dpi``: the resolution of a raster
    basemap (``spec.underlay``), 96 for a screen, :data:`RASTER_DPI` for print.
    """
    return _compose(spec, width_pt, height_pt, simplify_pt, raster_dpi)[0]


# --------------------------------------------------------------------------- output


class _FastPDFRenderer(renderPDF._PDFRenderer):  # type: ignore[misc]
    """renderPDF, with straight-line paths written in one pass.

    reportlab formats path numbers one call at a time in pure Python (several µs a vertex), and
    state changes per shape; this writes the same operators in one pass from coordinates rounded
    to 0.01 pt. Measured by ``python -m bench.bench_render``.
    """

    def drawPath(self, path: Path) -> None:  # noqa: N802 - reportlab's name
        ops = path.operators
        if path.isClipPath or path.autoclose or 2 in ops:  # curves, clips: reportlab's way
            super().drawPath(path)
            return
        xy = np.round(np.asarray(path.points, dtype=float), 2)
        xs, ys = map(repr, xy[0::2].tolist()), map(repr, xy[1::2].tolist())
        letters: list[str] = []
        moves = closes = 0
        for op in ops:
            if op == 3:
                if letters:
                    letters[-1] += " h"
                closes += 1
            elif op == 0:
                letters.append("m")
                moves += 1
            else:
                letters.append("l")
        out = chain.from_iterable(zip(xs, ys, letters, strict=False))
        canvas = self._canvas
        canvas._code.append(" ".join(out))
        # As renderPDF does: an open path is never filled.
        fill = self._fill if moves == closes else 0
        canvas._strokeAndFill(self._stroke, fill, getattr(path, "fillMode", None))

    def drawImage(self, image: Image) -> None:  # noqa: N802 - reportlab's name
        """A raster (the basemap) as an image XObject: renderPDF writes PIL images inline,
        which a binary page stream (``useA85 = 0``) cannot hold. A photographic raster
        (``info["photo"]``) goes as JPEG, a map as lossless Flate."""
        from reportlab.lib.utils import ImageReader

        raster = image.path
        if not hasattr(raster, "mode"):
            super().drawImage(image)
            return
        if raster.info.get("photo"):
            buf = BytesIO()
            raster.convert("RGB").save(buf, "JPEG", quality=85)
            buf.seek(0)
            raster = buf
        self._canvas.drawImage(ImageReader(raster), image.x, image.y, image.width, image.height)


def _draw_fast(drawing: Drawing, canvas: Canvas, x: float, y: float) -> None:
    _FastPDFRenderer().draw(renderPDF.renderScaledDrawing(drawing), canvas, x, y)


class MapDrawing(Drawing):  # type: ignore[misc]
    """A Drawing whose PDF rendering (also as a platypus flowable) uses the fast path writer."""

    def draw(self, showBoundary: object = None) -> None:  # noqa: N803 - reportlab's name
        """Called by platypus to draw the flowable on ``self.canv``."""
        _draw_fast(self, self.canv, 0, 0)


def drawing_to_pdf(drawing: Drawing, title: str = "Carte — crisis-console") -> bytes:
    """A one-page compressed PDF the size of the drawing.

    reportlab also ASCII85-encodes the page stream (``rl_config.useA85``), in pure Python unless
    the optional ``rl_accel`` package is installed: a third of the time of a dense map.
    """
    buf = BytesIO()
    c = Canvas(buf, pagesize=(drawing.width, drawing.height), pageCompression=1)
    c.setTitle(title)
    c.setCreator("crisis-console")
    _draw_fast(drawing, c, 0, 0)
    c.showPage()
    c.save()
    return buf.getvalue()


def drawing_to_svg(drawing: Drawing) -> str:
    """A standalone SVG document with width, height and an exact viewBox (scales with CSS)."""
    svg = renderSVG.drawToString(drawing)
    view_box = f'viewBox="0 0 {drawing.width:g} {drawing.height:g}"'
    svg = re.sub(r'viewBox="[^"]*"', view_box, svg, count=1)
    # reportlab names its PDF base fonts; browsers without Helvetica would fall back to a serif.
    svg = svg.replace(
        "font-family: Helvetica-Bold", f"font-family: {_SVG_FONTS}; font-weight: bold"
    )
    return svg.replace("font-family: Helvetica;", f"font-family: {_SVG_FONTS};")


_SVG_FONTS = "Helvetica, Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif"


class PngUnavailableError(RuntimeError):
    """renderPM has no raster backend here: install ``rlPyCairo`` (and cairo) for PNG output."""


def png_available() -> bool:
    """True when reportlab's renderPM can rasterise (it needs the ``rlPyCairo`` backend)."""
    try:
        import rlPyCairo  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


def drawing_to_png(drawing: Drawing, dpi: int = 96) -> bytes:
    """Rasterise the drawing with renderPM, or raise ``PngUnavailableError``."""
    if not png_available():
        raise PngUnavailableError(
            "PNG output needs reportlab's renderPM backend: pip install rlPyCairo "
            "(needs the cairo library); PDF and SVG output work without it"
        )
    from reportlab.graphics import renderPM

    data: bytes = renderPM.drawToString(drawing, fmt="PNG", dpi=dpi)
    return data


def scaled_drawing(drawing: Drawing, max_width: float, max_height: float) -> Drawing:
    """A copy of ``drawing`` shrunk (never enlarged) to fit ``max_width`` x ``max_height``.

    A reportlab ``Drawing`` is a platypus Flowable: append the result to a story as is, e.g.
    ``story.append(scaled_drawing(render_map(spec, 760, 520), doc.width, doc.height * 0.6))``.
    Rendering at the final size instead keeps text sizes exact; scale only to fit a frame.
    """
    s = min(1.0, max_width / drawing.width, max_height / drawing.height)
    out = MapDrawing(drawing.width * s, drawing.height * s)
    g = Group(*drawing.contents)
    g.transform = (s, 0, 0, s, 0, 0)
    out.add(g)
    out.hAlign = "CENTER"
    return out


def map_extract_pdf(spec: MapSpec, paper: str = "A4", now_label: str = "") -> bytes:
    """A printable landscape A4 or A3 page: the map with margins and a footer."""
    if paper not in PAPER_SIZES:
        raise ValueError(f"paper must be one of {sorted(PAPER_SIZES)}")
    page_w, page_h = PAPER_SIZES[paper]
    margin = 28.0  # 1 cm, inside every printer's unprintable border
    footer_h = 16.0
    drawing, vp = _compose(
        spec, page_w - 2 * margin, page_h - 2 * margin - footer_h, 0.5, RASTER_DPI
    )
    buf = BytesIO()
    c = Canvas(buf, pagesize=(page_w, page_h), pageCompression=1)
    c.setTitle(f"{spec.title} — extrait cartographique")
    c.setCreator("crisis-console")
    _draw_fast(drawing, c, margin, margin + footer_h)
    y = margin + 2
    c.setFont(FONT, 7.5)
    c.setFillColor(GREY)
    when = now_label or spec.time_label
    left = "Extrait cartographique — crisis-console" + (f" — édité le {when}" if when else "")
    c.drawString(margin, y, left)
    scale = f"Échelle 1:{fr.integer(_round_scale(vp.scale_denominator))} (impression {paper})"
    c.drawRightString(page_w - margin, y, f"{scale} — page 1/1")
    marks = [
        m
        for m, on in (("EXERCICE", spec.is_drill), ("DIFFUSION RESTREINTE", spec.is_restricted))
        if on
    ]
    if marks:
        c.setFont(FONT_BOLD, 8.5)
        c.setFillColor(MARK_RED)
        c.drawCentredString(page_w / 2, y, " — ".join(marks))
    c.showPage()
    c.save()
    return buf.getvalue()


def _round_scale(denominator: float) -> float:
    """Three significant figures: 1:24 873 reads as 1:24 900."""
    if denominator <= 0:
        return denominator
    digits = 3 - int(math.floor(math.log10(denominator))) - 1
    return round(denominator, min(digits, 0))
