"""Zone geometry: circles, downwind plumes, pipeline corridors, selected areas.

Everything here is pure shapely in Lambert-93 metres (x = east, y = north). Bearings are in
degrees clockwise from north; a wind *from* 240° blows *towards* 60°. The shape functions
(:func:`circle`, :func:`plume`, :func:`corridor`) work in the grid: grid bearings, grid metres.
:func:`compute_zones` turns the ground into the grid at the source: a meteorological wind
direction is a *true* bearing, turned by the meridian convergence (≈ 1.8° at Port-Jérôme, about
120 m sideways at 3.8 km), and effect distances are ground metres, times the point scale factor
(≈ 1.0004 there): zones lie where the wind blows on the ground, at the stated distance.

Choices (also recorded in docs/decisions.md by whoever owns it):

- Circles and arcs are polygons with one vertex per at most 1° whose edges are *tangent* to the
  true circle (vertices at ``r / cos(step / 2)``), so the polygon contains the whole disc: a
  point exactly at the effect distance is inside. The overshoot is ~0.004 % of the radius.
- Plume: below ``calm_below_ms`` the direction is unknown and the zone is the full circle (as
  ALOHA does for low wind). Above, the sector's half-angle goes linearly from the weak-wind value
  at the calm threshold to the strong-wind value at :data:`STRONG_WIND_MS` (5 m/s) and beyond.
  The sector is unioned with a small circle around the source (10 % of the distance, at least
  50 m): people next to the source are exposed whatever the wind.
- Corridor: the part of the line(s) within ``section_m / 2`` of the source, buffered by
  ``width_m`` on each side with round caps (someone ``width_m`` beyond the end of the section is
  as exposed as someone beside it), unioned with a circle of ``width_m`` around the source so the
  source itself is always covered, even when it is not exactly on the line.
- Nesting: within one hazard family (same ``family``, e.g. toxic, thermal, overpressure, flood)
  the effect decreases monotonically with distance from the source, so a worse threshold's zone
  lies inside a milder one's. Zones are computed independently from their own distances, then
  each milder zone is unioned with the worse zones of its family; ``Zone.enlarged_by`` names the
  worse zones that actually enlarged it (a sign of inconsistent effect distances). Zones of
  different families are never merged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from app.geo import proj

__all__ = [
    "LEVELS",
    "STRONG_WIND_MS",
    "Zone",
    "area",
    "circle",
    "compute_zones",
    "corridor",
    "plume",
    "zone_from_geojson",
    "zones_from_geojson",
    "zones_to_geojson",
]

LEVELS = ("red", "orange", "yellow")  # worst first
STRONG_WIND_MS = 5.0
DEFAULT_HALF_ANGLE_DEG = (30.0, 60.0)  # (strong wind, weak wind)
DEFAULT_CALM_BELOW_MS = 1.0
SOURCE_CIRCLE_SHARE = 0.10
SOURCE_CIRCLE_MIN_M = 50.0
MAX_STEP_DEG = 1.0
# Tangent points sit exactly on the circle; a relative 1e-9 (10 µm at 10 km) keeps a point at
# exactly the effect distance inside despite floating-point rounding.
_TANGENT_SLACK = 1.0 + 1e-9


@dataclass(frozen=True)
class Zone:
    """One computed zone, geometry in Lambert-93."""

    id: str
    label: str
    level: str
    family: str
    threshold: str
    shape: str
    geometry: BaseGeometry
    distance_m: float | None
    distance_source: str  # "site" | "playbook" | "data"
    params: dict[str, Any] = field(default_factory=dict)
    enlarged_by: tuple[str, ...] = ()

    @property
    def severity(self) -> int:
        """0 for the worst level (red), larger for milder ones."""
        return level_rank(self.level)


def level_rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def _xy(center: Point | Sequence[float]) -> tuple[float, float]:
    if isinstance(center, Point):
        return float(center.x), float(center.y)
    return float(center[0]), float(center[1])


def _arc(cx: float, cy: float, radius: float, start_deg: float, end_deg: float) -> np.ndarray:
    """Vertices of an arc from bearing ``start`` to ``end`` (clockwise), tangent-edged."""
    span = end_deg - start_deg
    n = max(1, math.ceil(span / MAX_STEP_DEG - 1e-9))
    step = span / n
    # Edge midpoints touch the true circle; the end vertices lie exactly on it.
    r_out = radius / math.cos(math.radians(step / 2)) * _TANGENT_SLACK
    inner = start_deg + step * (np.arange(n) + 0.5)
    bearings = np.concatenate(([start_deg], inner, [end_deg]))
    radii = np.full(len(bearings), r_out)
    radii[0] = radii[-1] = radius * _TANGENT_SLACK
    b = np.radians(bearings)
    return np.column_stack((cx + radii * np.sin(b), cy + radii * np.cos(b)))


def circle(center: Point | Sequence[float], radius_m: float) -> Polygon:
    """A disc of ``radius_m`` around ``center``, as a polygon that contains the true disc."""
    if radius_m <= 0:
        return Polygon()
    cx, cy = _xy(center)
    n = math.ceil(360 / MAX_STEP_DEG)
    step = 360 / n
    r_out = radius_m / math.cos(math.radians(step / 2)) * _TANGENT_SLACK
    b = np.radians(np.arange(n) * step)
    ring = np.column_stack((cx + r_out * np.sin(b), cy + r_out * np.cos(b)))
    return Polygon(ring)


def plume_half_angle(
    wind_speed_ms: float,
    half_angle_deg: tuple[float, float] = DEFAULT_HALF_ANGLE_DEG,
    calm_below_ms: float = DEFAULT_CALM_BELOW_MS,
) -> float:
    """Sector half-angle: weak-wind value at the calm threshold, strong-wind value from 5 m/s."""
    strong, weak = half_angle_deg
    if calm_below_ms >= STRONG_WIND_MS:
        return float(strong)
    t = (wind_speed_ms - calm_below_ms) / (STRONG_WIND_MS - calm_below_ms)
    t = min(1.0, max(0.0, t))
    return float(weak + t * (strong - weak))


def plume(
    center: Point | Sequence[float],
    wind_from_deg: float,
    wind_speed_ms: float,
    distance_m: float,
    half_angle_deg: tuple[float, float] = DEFAULT_HALF_ANGLE_DEG,
    calm_below_ms: float = DEFAULT_CALM_BELOW_MS,
) -> BaseGeometry:
    """Downwind sector of ``distance_m`` plus a small circle around the source.

    Below ``calm_below_ms`` (or when the half-angle reaches 180°) it is the full circle.
    """
    if distance_m <= 0:
        return Polygon()
    if wind_speed_ms < calm_below_ms:
        return circle(center, distance_m)
    half = plume_half_angle(wind_speed_ms, half_angle_deg, calm_below_ms)
    if half >= 180:
        return circle(center, distance_m)
    cx, cy = _xy(center)
    towards = (wind_from_deg + 180.0) % 360.0
    arc = _arc(cx, cy, distance_m, towards - half, towards + half)
    wedge = Polygon(np.vstack(([cx, cy], arc)))
    r_src = min(distance_m, max(SOURCE_CIRCLE_MIN_M, SOURCE_CIRCLE_SHARE * distance_m))
    return shapely.union(wedge, circle((cx, cy), r_src))


def corridor(
    lines: Iterable[BaseGeometry],
    source: Point | Sequence[float],
    section_m: float,
    width_m: float,
) -> BaseGeometry:
    """Buffer of ``width_m`` (each side, round caps) around the line section near the source.

    The section is the part of ``lines`` within ``section_m / 2`` of the source; the source's
    own circle of ``width_m`` is always included.
    """
    cx, cy = _xy(source)
    around = circle((cx, cy), width_m)
    geoms = [g for g in lines if g is not None and not g.is_empty]
    if not geoms or section_m <= 0:
        return around
    section = shapely.intersection(shapely.union_all(geoms), circle((cx, cy), section_m / 2))
    if section.is_empty:
        return around
    return shapely.union(shapely.buffer(section, width_m, quad_segs=23), around)


_SELECT_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda v, x: v <= x,
    "==": lambda v, x: math.isclose(v, x, rel_tol=0.0, abs_tol=1e-9),
    ">=": lambda v, x: v >= x,
}


def area(
    polygons: Sequence[BaseGeometry],
    properties: Sequence[dict[str, Any]],
    select_property: str,
    value: float,
    op: str = "<=",
    margin: float = 0.0,
) -> BaseGeometry:
    """Union of the polygons whose ``select_property`` ``op`` ``value + margin`` (multi-part).

    For flood extents keyed by ``seine_level_m``: every extent reached by the forecast level
    (``<=``), or by the forecast level plus an uncertainty margin. Features without a numeric
    value are ignored; nothing selected gives an empty polygon.
    """
    if op not in _SELECT_OPS:
        raise ValueError(f"unknown comparison {op!r}")
    test = _SELECT_OPS[op]
    target = value + margin
    chosen = []
    for geom, props in zip(polygons, properties, strict=True):
        v = props.get(select_property)
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if test(float(v), target) and geom is not None and not geom.is_empty:
            chosen.append(geom)
    if not chosen:
        return Polygon()
    return shapely.union_all(chosen)


def effect_distance(effects: dict[str, Any] | None, key: str | None) -> float | None:
    """Look up a dotted key such as ``"toxic.SELS"`` in a site's effects dict."""
    if not effects or not key:
        return None
    node: Any = effects
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float) or node <= 0:
        return None
    return float(node)


LinesFor = Callable[[str], list[BaseGeometry]]
PolygonsFor = Callable[[str], list[tuple[BaseGeometry, dict[str, Any]]]]


def compute_zones(
    specs: Iterable[Any],
    source_l93: Point,
    params: dict[str, Any],
    effects: dict[str, Any] | None = None,
    lines_for: LinesFor | None = None,
    polygons_for: PolygonsFor | None = None,
) -> list[Zone]:
    """Compute the zones of a playbook for one source and parameter set, worst first.

    ``specs`` are playbook zone specs (``app.playbooks.ZoneSpec``: read by attribute).
    ``lines_for(dataset)`` / ``polygons_for(dataset)`` provide Lambert-93 geometries for
    corridor and area zones.
    """
    zones: list[Zone] = []
    ground = _Ground(*proj.grid_factors(float(source_l93.x), float(source_l93.y)))
    for spec in specs:
        zones.append(
            _compute_one(spec, source_l93, params, effects, lines_for, polygons_for, ground)
        )
    zones = _nest(zones)
    return sorted(zones, key=lambda z: z.severity)  # stable: playbook order within a level


@dataclass(frozen=True)
class _Ground:
    """The ground at the source, in the grid: meridian convergence (degrees), scale factor."""

    convergence_deg: float = 0.0
    scale: float = 1.0

    def bearing(self, true_deg: float) -> float:
        return (true_deg - self.convergence_deg) % 360.0

    def metres(self, ground_m: float) -> float:
        return ground_m * self.scale


def _compute_one(
    spec: Any,
    source: Point,
    params: dict[str, Any],
    effects: dict[str, Any] | None,
    lines_for: LinesFor | None,
    polygons_for: PolygonsFor | None,
    ground: _Ground | None = None,
) -> Zone:
    ground = ground or _Ground()
    site = effect_distance(effects, getattr(spec, "effect", None))
    default = getattr(spec, "default_m", None)
    distance: float | None
    if site is not None:
        distance, distance_source = site, "site"
    else:
        distance = float(default) if default is not None else None
        distance_source = "playbook"
    shape = spec.shape
    used: dict[str, Any] = {}
    geom: BaseGeometry
    if shape == "circle":
        geom = circle(source, ground.metres(_need(distance, spec)))
    elif shape == "plume":
        calm = getattr(spec, "calm_below_ms", None)
        calm = DEFAULT_CALM_BELOW_MS if calm is None else float(calm)
        half = getattr(spec, "half_angle_deg", None)
        half_t = DEFAULT_HALF_ANGLE_DEG if half is None else (float(half[0]), float(half[1]))
        wind_from = float(params.get("wind_from_deg", 0.0))
        wind_speed = float(params.get("wind_speed_ms", 0.0))
        used = {"wind_from_deg": wind_from, "wind_speed_ms": wind_speed}
        geom = plume(
            source,
            ground.bearing(wind_from),  # true (meteorological) -> grid
            wind_speed,
            ground.metres(_need(distance, spec)),
            half_t,
            calm,
        )
        used["grid_convergence_deg"] = round(ground.convergence_deg, 4)
        used["calm"] = wind_speed < calm
        used["half_angle_deg"] = (
            180.0 if wind_speed < calm else plume_half_angle(wind_speed, half_t, calm)
        )
    elif shape == "corridor":
        if lines_for is None or not getattr(spec, "dataset", None):
            raise ValueError(f"zone {spec.id}: corridor needs a dataset and lines_for")
        section = float(getattr(spec, "section_m", None) or 0.0)
        used = {"section_m": section}
        geom = corridor(
            lines_for(spec.dataset),
            source,
            ground.metres(section),
            ground.metres(_need(distance, spec)),
        )
    elif shape == "area":
        if polygons_for is None or not getattr(spec, "dataset", None):
            raise ValueError(f"zone {spec.id}: area needs a dataset and polygons_for")
        key = spec.select_param
        if key not in params:
            raise ValueError(f"zone {spec.id}: parameter {key!r} missing")
        value = float(params[key])
        op = getattr(spec, "select_op", None) or "<="
        margin = float(getattr(spec, "select_margin", None) or 0.0)
        used = {key: value}
        if margin:
            used["select_margin"] = margin
        feats = polygons_for(spec.dataset)
        geom = area(
            [g for g, _ in feats], [p for _, p in feats], spec.select_property, value, op, margin
        )
        distance, distance_source = None, "data"
    else:
        raise ValueError(f"zone {spec.id}: unknown shape {shape!r}")
    return Zone(
        id=spec.id,
        label=spec.label,
        level=spec.level,
        family=spec.family,
        threshold=str(spec.threshold),
        shape=shape,
        geometry=geom,
        distance_m=distance,
        distance_source=distance_source,
        params=used,
    )


def _need(distance: float | None, spec: Any) -> float:
    if distance is None:
        raise ValueError(f"zone {spec.id}: no site effect distance and no default_m")
    return distance


def _nest(zones: list[Zone]) -> list[Zone]:
    """Union each zone with the strictly worse zones of its family (see module docstring)."""
    out = []
    for z in zones:
        worse = [w for w in zones if w.family == z.family and w.severity < z.severity]
        geom = z.geometry
        enlarged = []
        for w in sorted(worse, key=lambda w: w.severity):
            if w.geometry.is_empty or covers(geom, w.geometry):
                continue
            geom = shapely.union(geom, w.geometry)
            enlarged.append(w.id)
        if enlarged:
            z = replace(z, geometry=geom, enlarged_by=tuple(enlarged))
        out.append(z)
    return out


def covers(a: BaseGeometry, b: BaseGeometry, rel_tol: float = 1e-9, band_m: float = 0.0) -> bool:
    """``a`` covers ``b`` up to floating-point noise (what a union leaves on shared edges), or,
    with ``band_m``, up to a band that wide along ``b``'s outline (coordinates rounded)."""
    if a.covers(b):
        return True
    outside = shapely.difference(b, a).area
    return bool(outside <= max(rel_tol * max(b.area, 1.0), band_m * b.length))


def outer_zone(zones: Sequence[Zone]) -> BaseGeometry:
    """Union of all zones (the perimeter used for road closures)."""
    geoms = [z.geometry for z in zones if not z.geometry.is_empty]
    if not geoms:
        return Polygon()
    if len(geoms) == 1:
        return geoms[0]
    # Nested zones: the mildest one already holds the others; return that very object so
    # callers can tell the outer zone is one of the zones.
    for g in sorted(geoms, key=lambda g: -g.area):
        # Stored zones come back from WGS84 at 7 decimals (about 1 cm): a 2 cm band is noise.
        if all(g is h or covers(g, h, band_m=0.02) for h in geoms):
            return g
    return shapely.union_all(geoms)


# -- GeoJSON (WGS84) at the edges -----------------------------------------------------------


def zones_to_geojson(zones: Iterable[Zone], precision: int | None = 7) -> dict[str, Any]:
    """FeatureCollection of the zones in WGS84 (7 decimals ~ 1 cm by default)."""
    features = []
    for z in zones:
        features.append(
            {
                "type": "Feature",
                "id": z.id,
                "geometry": proj.shape_to_geojson(proj.to_wgs84(z.geometry), precision),
                "properties": {
                    "id": z.id,
                    "label": z.label,
                    "level": z.level,
                    "family": z.family,
                    "threshold": z.threshold,
                    "shape": z.shape,
                    "distance_m": z.distance_m,
                    "distance_source": z.distance_source,
                    "params": dict(z.params),
                    "enlarged_by": list(z.enlarged_by),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def zone_from_geojson(feature: dict[str, Any]) -> Zone:
    """Rebuild a :class:`Zone` (Lambert-93) from one feature of :func:`zones_to_geojson`."""
    p = feature["properties"]
    geom = proj.to_l93(proj.geojson_to_shape(feature["geometry"]))
    dist = p.get("distance_m")
    return Zone(
        id=p["id"],
        label=p["label"],
        level=p["level"],
        family=p["family"],
        threshold=str(p["threshold"]),
        shape=p["shape"],
        geometry=shapely.make_valid(geom) if not geom.is_valid else geom,
        distance_m=float(dist) if dist is not None else None,
        distance_source=p.get("distance_source", "playbook"),
        params=dict(p.get("params") or {}),
        enlarged_by=tuple(p.get("enlarged_by") or ()),
    )


def zones_from_geojson(collection: dict[str, Any]) -> list[Zone]:
    """Rebuild every zone of a FeatureCollection, worst first."""
    zones = [zone_from_geojson(f) for f in collection.get("features", [])]
    return sorted(zones, key=lambda z: z.severity)
