"""The situation of an event: its zones, their impact and its map (docs/architecture.md).

Glue between the catalogue, the records and ``app.geo``; no Flask. :func:`event_impact` is THE
impact analysis used by the event page, the JSON API and the situation reports, and
:func:`event_map_spec` the one map they all draw (SVG on screen, PDF extract, report). Each takes
the ``Event`` and its stored ``Zones`` (``app.records``) that the caller read once for its request
or report, never an id to read again (docs/architecture.md, "load once, pass objects").

Access is decided by the caller: ``open_datasets`` / ``open_layers`` name only the restricted
or personal datasets the user holds a valid grant for (read through ``app.access``); every other
non-public layer is reduced to counts by the analysis and is never drawn.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely
import sqlite_utils
from shapely.geometry import Point, box
from shapely.geometry.base import BaseGeometry

from . import fr
from .geo import proj
from .geo.impact import Impact, LayerSpec, analyse, zone_caveats
from .geo.index import Layer, SpatialIndex
from .geo.render import MapLayer, MapSpec, MapZone, format_distance
from .geo.zones import Zone, outer_zone, zones_from_geojson
from .records import DATASET_SQL, Dataset, Event, Zones, dataset_from_row

__all__ = [
    "ESTABLISHMENT_NOUNS",
    "ImpactQuery",
    "Layers",
    "establishment_noun",
    "event_impact",
    "impact_query",
    "index_warm_order",
    "map_impact",
    "read_layers",
    "event_map_features",
    "event_map_spec",
    "event_zones",
    "layer_role",
    "layer_specs",
    "with_coverage",
    "zones_collection",
]

# French nouns (one, other) of the establishment types of the demo catalogue: the screen and the
# reports name them through establishment_noun, so that a count and its noun agree.
ESTABLISHMENT_NOUNS: dict[str, tuple[str, str]] = {
    "creche": ("crèche", "crèches"),
    "ecole": ("école", "écoles"),
    "college": ("collège", "collèges"),
    "lycee": ("lycée", "lycées"),
    "ehpad": ("EHPAD", "EHPAD"),
    "hopital": ("hôpital", "hôpitaux"),
    "clinique": ("clinique", "cliniques"),
    "autre": ("autre", "autres"),
}
# Reference layers (outlines, river, plans) frame the map; counting them in a zone says nothing.
_NOT_ANALYSED_THEMES = ("reference",)
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")
DEFAULT_RADIUS_M = 3000.0  # map extent around the source when an event has no zones yet


def establishment_noun(kind: Any, count: Any = 1, *, capital: bool = False) -> str:
    """The French noun of an establishment type agreeing with ``count`` (French rule: 0 and 1
    singular): ``collège``, ``collèges``; ``capital`` for a label (``Collèges``, ``EHPAD``)."""
    one, other = ESTABLISHMENT_NOUNS.get(str(kind), (str(kind or "—"),) * 2)
    noun = fr.plural(count, one, other)
    return noun[:1].upper() + noun[1:] if capital else noun


# -- layers ----------------------------------------------------------------------------------


def layer_role(slug: str, theme: str, geometry_type: str) -> str | None:
    """The analysis role of a dataset, or None when the impact analysis ignores it."""
    kind = geometry_type.lower().removeprefix("multi")
    if slug == "population-grid" or (theme == "population" and kind == "polygon"):
        return "population_grid"
    if slug == "communes":
        return "communes"
    if slug == "roads":
        return "roads"
    if slug in ("schools", "health-care"):
        return "establishments"
    if theme == "network" or slug.endswith("-network") or slug == "gas-transport":
        if kind == "linestring":
            return "network_lines"
        if kind == "point" or slug.endswith("-assets"):
            return "network_assets"
    if theme in _NOT_ANALYSED_THEMES:
        return None
    return "other"


def _year(*texts: str) -> int | None:
    for text in texts:
        found = _YEAR.search(text or "")
        if found:
            return int(found.group(1))
    return None


@dataclass(frozen=True)
class Layers:
    """The catalogue as one request read it (one query): loaded datasets and how the analysis
    reads them, each with the revision read, so the index is checked without asking again."""

    datasets: dict[str, Dataset]
    specs: tuple[LayerSpec, ...]

    def revision(self, slug: str) -> int | None:
        found = self.datasets.get(slug)
        return found.revision if found is not None else None

    def layer(self, index: SpatialIndex, slug: str) -> Layer:
        """The indexed layer ``slug`` at the revision this request read."""
        return index.layer(slug, self.revision(slug))


_LAYERS_SQL = DATASET_SQL + " ORDER BY d.theme, d.title"  # catalogue.list_datasets' order
_layers_lock = threading.Lock()
_layers_seen: OrderedDict[tuple[Any, ...], Layers] = OrderedDict()


def read_layers(db: sqlite_utils.Database) -> Layers:
    """The loaded datasets and the analysis's layer specs, with their revisions (one query).

    The rows are the key of the parsed result: an unchanged catalogue is not parsed again.
    """
    cursor = db.execute(_LAYERS_SQL)
    names = [c[0] for c in cursor.description]
    raw = tuple(cursor.fetchall())
    with _layers_lock:
        found = _layers_seen.get(raw)
        if found is not None:
            _layers_seen.move_to_end(raw)
            return found
    datasets = {}
    for r in raw:
        d = dataset_from_row(dict(zip(names, r, strict=True)))
        if d.feature_count > 0:
            datasets[d.slug] = d
    specs = []
    for d in datasets.values():
        role = layer_role(d.slug, d.theme, d.geometry_type)
        if role is None:
            continue
        specs.append(
            LayerSpec(
                slug=d.slug,
                title=d.title,
                theme=d.theme,
                sensitivity=d.sensitivity,
                geometry_type=d.geometry_type,
                role=role,
                source=d.source if role == "population_grid" else "",
                year=_year(d.source, d.description) if role == "population_grid" else None,
                revision=d.revision,
            )
        )
    layers = Layers(datasets, tuple(specs))
    with _layers_lock:
        _layers_seen[raw] = layers
        while len(_layers_seen) > 8:
            _layers_seen.popitem(last=False)
    return layers


def index_warm_order(db: sqlite_utils.Database) -> list[tuple[str, int]]:
    """The layers the analysis and the maps read, with their revisions, smallest first: what a
    server builds in the background when it starts (the small ones are ready at once)."""
    read = read_layers(db)
    wanted = {s.slug for s in read.specs} | (set(_BASEMAP) | set(_THEMATIC)) & set(read.datasets)
    ordered = sorted(wanted, key=lambda slug: (read.datasets[slug].feature_count, slug))
    return [(slug, read.datasets[slug].revision) for slug in ordered]


def layer_specs(db: sqlite_utils.Database) -> list[LayerSpec]:
    """How the impact analysis reads each loaded dataset of the catalogue."""
    return list(read_layers(db).specs)


# -- zones -----------------------------------------------------------------------------------


def event_zones(zones: Zones | None) -> list[Zone]:
    """The event's stored zones (``records.latest_zones``), Lambert-93, worst first; [] if none."""
    if zones is None:
        return []
    return zones_from_geojson(zones["geojson"])


def zones_collection(event: Event, zones: Zones | None) -> dict[str, Any]:
    """The zones as the API gives them: a WGS84 FeatureCollection with their provenance.

    Each feature carries its level, threshold, threshold family, shape, distance and where the
    distance comes from (``site``: the plant's hazard study, ``playbook``: the generic default,
    ``data``: a dataset's extents), the parameters the zone used (``params``) and the event
    parameters the zones were computed with (``parameters``).
    """
    latest = zones
    base: dict[str, Any] = {
        "type": "FeatureCollection",
        "event": event.id,
        "drill": event.is_drill,
        "source": {"lon": event.lon, "lat": event.lat, "site": event.site_fid},
        "version": None,
        "computed_at": None,
        "parameters": None,
        "features": [],
    }
    if latest is None:
        return base
    base.update(
        version=latest["version"],
        computed_at=latest["computed_at"],
        parameters=latest["params"],
    )
    for feature in latest["geojson"].get("features", []):
        props = dict(feature.get("properties") or {})
        props["parameters"] = latest["params"]
        props["distance_source"] = props.get("distance_source", "playbook")
        base["features"].append(
            {
                "type": "Feature",
                "id": feature.get("id", props.get("id")),
                "geometry": feature["geometry"],
                "properties": props,
            }
        )
    return base


def _source_l93(event: Event) -> Point:
    x, y = proj.lonlat_to_l93(event.lon, event.lat)
    return Point(float(x), float(y))


# -- impact ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImpactQuery:
    """What an analysis depends on, as one request read it: its memo key.

    The event (its source point), the version of its zones, the catalogue (each analysed
    dataset's revision and how it is read) and the non-public datasets open to the caller. A
    change of any of them is another key; a main-courante entry or a read is none of them.
    """

    event: Event
    zones: Zones | None
    layers: Layers
    opened: frozenset[str]

    @property
    def zones_version(self) -> int | None:
        return self.zones["version"] if self.zones is not None else None

    @property
    def key(self) -> tuple[Any, ...]:
        return (
            "impact",
            self.event.id,
            self.event.lon,
            self.event.lat,
            self.zones_version,
            self.layers.specs,
            self.opened,
        )


def impact_query(
    db: sqlite_utils.Database,
    event: Event,
    zones: Zones | None,
    open_datasets: Iterable[str] = frozenset(),
    *,
    layers: Layers | None = None,
) -> ImpactQuery:
    """What the event's analysis depends on (the catalogue read once if ``layers`` is None)."""
    layers = layers if layers is not None else read_layers(db)
    restricted = {s.slug for s in layers.specs if s.sensitivity != "public"}
    return ImpactQuery(event, zones, layers, frozenset(open_datasets) & restricted)


def _impact_bytes(impact: Impact) -> int:
    """A rough size of an analysis held in the memo (index arrays and dicts)."""
    n = 0
    for z in [*impact.zones, impact.outer]:
        n += sum(it.idx.nbytes * 3 for _, it in z.establishments)
        n += sum(it.idx.nbytes * 3 for it in (*z.network_items.values(), *z.other_items.values()))
        n += 512 * (len(z.communes) + len(z.networks) + len(z.other) + len(z.restricted))
    return n + 256 * len(impact.closure_points) + 4096


def event_impact(
    db: sqlite_utils.Database,
    index: SpatialIndex,
    event: Event,
    zones: Zones | None,
    open_datasets: Iterable[str] = frozenset(),
    *,
    query: ImpactQuery | None = None,
) -> Impact:
    """The impact analysis of the event's current ``zones``: THE one used by screen, API, reports.

    ``open_datasets``: restricted or personal datasets the caller holds a valid grant for
    (listed in full); every other non-public dataset appears as counts only. The analysis is
    memoised in the index (:attr:`SpatialIndex.memo`) under :attr:`ImpactQuery.key`; each
    layer is read at the revision of the catalogue as read (``query.layers``).
    """
    q = query if query is not None else impact_query(db, event, zones, open_datasets)

    def compute() -> Impact:
        specs = with_coverage(index, q.layers)
        return analyse(event_zones(q.zones), index, specs, _source_l93(q.event), q.opened)

    impact: Impact = index.memo.get_or_compute(q.key, compute, _impact_bytes)
    return impact


def map_impact(
    db: sqlite_utils.Database,
    index: SpatialIndex,
    event: Event,
    zones: Zones | None,
    open_datasets: Iterable[str] = frozenset(),
    *,
    query: ImpactQuery | None = None,
) -> Impact:
    """What a map needs of the analysis: the closure points and the outer zone's counts of the
    non-public layers it may not draw. The full analysis when it is already memoised, else only
    the roads and those layers, for the outer zone (memoised too)."""
    q = query if query is not None else impact_query(db, event, zones, open_datasets)
    full = index.memo.get(q.key)
    if full is not None:
        return full  # type: ignore[no-any-return]
    wanted = {s.slug for s in q.layers.specs if s.role == "roads" or not _visible_to(s, q.opened)}
    specs = [s for s in with_coverage(index, q.layers) if s.slug in wanted]

    def compute() -> Impact:
        source = _source_l93(q.event)
        return analyse(event_zones(q.zones), index, specs, source, q.opened, outer_only=True)

    impact: Impact = index.memo.get_or_compute((*q.key, "map"), compute, _impact_bytes)
    return impact


def _visible_to(spec: LayerSpec, opened: frozenset[str]) -> bool:
    return spec.sensitivity == "public" or spec.slug in opened


TERRITORY_SLUG = "territory"


def with_coverage(index: SpatialIndex, layers: Layers) -> list[LayerSpec]:
    """The specs with their coverage in Lambert-93 (the catalogue's ``coverage``): the
    territory's outline, or the dataset's own polygon. Without a loaded territory, a layer
    covering "the territory" is taken as complete everywhere (nothing to compare with)."""
    datasets = layers.datasets
    territory: BaseGeometry | None = None
    loaded = datasets.get(TERRITORY_SLUG)
    if loaded is not None and loaded.feature_count > 0:
        layer = index.layer(TERRITORY_SLUG, loaded.revision)
        if layer.geoms is not None and len(layer.geoms):
            territory = shapely.union_all(layer.geoms)
    out = []
    for spec in layers.specs:
        d = datasets.get(spec.slug)
        coverage = d.coverage if d is not None else "territory"
        if not isinstance(coverage, dict):  # "territory"
            out.append(replace(spec, coverage=territory))
        else:
            polygon = proj.to_l93(proj.geojson_to_shape(coverage))
            label = f"de la couverture de « {spec.title} »"
            out.append(replace(spec, coverage=polygon, coverage_label=label))
    return out


# -- map -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    kind: str
    stroke: str
    fill: str | None = None
    width: float = 0.6
    radius: float = 2.0
    symbol: str = "circle"
    legend: bool = True
    label: str | None = None  # property used as label


# Basemap and thematic styles, drawn in this order (polygons under the zones, the rest above).
_BASEMAP: dict[str, _Style] = {
    "communes": _Style("polygon", "#9a9a9a", "#f3f1ea", 0.4, legend=False, label="name"),
    "flood-extents": _Style("polygon", "#6f9fd8", "#dbe8f7", 0.3),
    "territory": _Style("polygon", "#3c3c3c", None, 1.2, legend=False),
    "seine": _Style("line", "#4a7fc1", None, 2.4),
    "roads": _Style("line", "#7a4b2a", None, 0.9, label="ref"),
}
_THEMATIC: dict[str, _Style] = {
    "seveso-sites": _Style("point", "#6a1b9a", "#ce93d8", 0.8, 3.2, "triangle", label="name"),
    "schools": _Style("point", "#1b5e20", "#66bb6a", 0.8, 2.8, "square", label="name"),
    "health-care": _Style("point", "#0d47a1", "#64b5f6", 0.8, 3.0, "cross", label="name"),
}
_RESTRICTED_STYLE: dict[str, _Style] = {
    "network_lines": _Style("line", "#8e24aa", None, 0.7),
    "network_assets": _Style("point", "#8e24aa", "#e1bee7", 0.6, 2.2, "square"),
    "other": _Style("point", "#b71c1c", "#ef9a9a", 0.6, 2.4, "circle"),
    "establishments": _Style("point", "#b71c1c", "#ef9a9a", 0.6, 2.4, "circle"),
}
MAP_TITLES: dict[str, str] = {
    "communes": "Communes",
    "flood-extents": "Emprises de crue cartographiées",
    "territory": "Limite de l'agglomération",
    "seine": "La Seine",
    "roads": "Routes principales",
    "seveso-sites": "Sites Seveso",
    "schools": "Établissements scolaires",
    "health-care": "Établissements de santé",
}


def _extent_box(extent: tuple[float, float, float, float]) -> BaseGeometry:
    return box(*extent)


def _layer_in(
    layer: Layer, frame: BaseGeometry, label_key: str | None
) -> tuple[list[BaseGeometry], list[str | None]]:
    """The layer's Lambert-93 geometries meeting ``frame`` and their labels."""
    if layer.kind == "point":
        idx = layer.points_in(frame)
        geoms = list(layer.point_geoms(idx))
    else:
        assert layer.tree is not None and layer.geoms is not None
        idx = np.sort(layer.tree.query(frame))
        geoms = list(layer.geoms[idx])
    labels: list[str | None] = []
    if label_key:
        col = layer.properties.column(label_key, None, idx)
        labels = [str(v) if v not in (None, "") else None for v in col]
    return geoms, labels


def _map_extent(
    zones: Sequence[Zone], source: Point, margin: float = 0.15
) -> tuple[float, float, float, float]:
    geoms = [z.geometry for z in zones if not z.geometry.is_empty]
    if geoms:
        x0, y0, x1, y1 = shapely.total_bounds(np.array([*geoms, source], dtype=object))
    else:
        r = DEFAULT_RADIUS_M
        x0, y0, x1, y1 = source.x - r, source.y - r, source.x + r, source.y + r
    pad = max(x1 - x0, y1 - y0, 1000.0) * margin
    return (float(x0 - pad), float(y0 - pad), float(x1 + pad), float(y1 + pad))


def _features_to_l93(features: Iterable[Mapping[str, Any]]) -> list[BaseGeometry]:
    out = []
    for f in features:
        geometry = f.get("geometry")
        if geometry:
            out.append(proj.to_l93(proj.geojson_to_shape(geometry)))
    return out


def _closure_label(point: Mapping[str, Any]) -> str:
    return str(point.get("ref") or point.get("name") or "Route")


def event_map_spec(
    db: sqlite_utils.Database,
    index: SpatialIndex,
    event: Event,
    stored_zones: Zones | None,
    *,
    open_layers: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    impact: Impact | None = None,
    extent: tuple[float, float, float, float] | None = None,
    time_label: str = "",
    title: str | None = None,
    basemap: Any = None,
    layers: Layers | None = None,
) -> MapSpec:
    """The event's map: basemap, zones, source, wind, closure points, establishments.

    ``basemap`` (an ``app.basemap.Basemap``): a raster basemap the territory supplies, drawn
    under everything; the communes are then outlined, not filled, so that it shows through.

    ``open_layers`` maps a restricted/personal dataset slug to the GeoJSON features the user's
    grant opened (``app.access.read_features``): they are drawn and the map is marked
    DIFFUSION RESTREINTE. Nothing else that is not public is ever drawn. ``impact`` avoids
    recomputing the analysis when the caller already has it (closure points come from it; by
    default :func:`map_impact`). ``layers``: the catalogue as the caller read it.
    The renderer simplifies geometry for the scale; here only what meets the extent is kept.
    """
    zones = event_zones(stored_zones)
    source = _source_l93(event)
    read = layers if layers is not None else read_layers(db)
    if impact is None:
        query = impact_query(db, event, stored_zones, layers=read)
        impact = map_impact(db, index, event, stored_zones, query=query)
    frame_extent = extent or _map_extent(zones, source)
    frame = _extent_box(frame_extent)
    datasets = read.datasets
    flood = any(z.shape == "area" for z in zones)

    drawn: list[MapLayer] = []

    def add(
        slug: str,
        style: _Style,
        *,
        title: str | None = None,
        restricted: bool = False,
        geoms: list[BaseGeometry] | None = None,
        labels: list[str | None] | None = None,
    ) -> None:
        if geoms is None:
            if slug not in datasets:
                return
            geoms, labels = _layer_in(read.layer(index, slug), frame, style.label)
            if style.kind == "line" and labels:
                labels = _one_label_per_name(geoms, labels)
        if not geoms:
            return
        drawn.append(
            MapLayer(
                title=title or MAP_TITLES.get(slug) or datasets[slug].title,
                kind=style.kind,
                geometries=geoms,
                stroke=style.stroke,
                fill=style.fill,
                width=style.width,
                radius=style.radius,
                labels=labels or (),
                restricted=restricted,
                symbol=style.symbol,
                legend=style.legend,
            )
        )

    for slug, style in _BASEMAP.items():
        if slug == "flood-extents" and not flood:
            continue
        if basemap is not None and slug == "communes":
            style = _Style("polygon", "#6d6d6d", None, 0.5, legend=False, label="name")
        add(slug, style)
    outer = outer_zone(zones)
    for slug, style in _THEMATIC.items():
        if slug not in datasets or not datasets[slug].is_public:
            continue
        geoms, labels = _layer_in(read.layer(index, slug), frame, style.label)
        if not outer.is_empty:
            # Name only what is inside the zones: a page of names around them is unreadable.
            shapely.prepare(outer)
            inside = shapely.intersects(outer, np.array(geoms, dtype=object)).tolist()
            labels = [lab if ok else None for lab, ok in zip(labels, inside, strict=True)]
        add(slug, style, geoms=geoms, labels=labels)
    for slug, feats in (open_layers or {}).items():
        d = datasets.get(slug)
        if d is None or d.is_public:
            continue
        role = layer_role(d.slug, d.theme, d.geometry_type) or "other"
        style = _RESTRICTED_STYLE.get(role, _RESTRICTED_STYLE["other"])
        kind = "line" if "line" in d.geometry_type.lower() else style.kind
        if "polygon" in d.geometry_type.lower():
            kind = "polygon"
        style = _Style(kind, style.stroke, style.fill, style.width, style.radius, style.symbol)
        geoms = [g for g in _features_to_l93(feats) if g.intersects(frame)]
        add(slug, style, title=f"{d.title} (restreint)", restricted=True, geoms=geoms)

    wind_from = event.params.get("wind_from_deg")
    wind_speed = event.params.get("wind_speed_ms")
    has_plume = any(z.shape == "plume" for z in zones)
    if wind_from is not None and (has_plume or not zones):
        wind_from_deg: float | None = float(wind_from)
        wind_speed_ms: float | None = float(wind_speed) if wind_speed is not None else None
    else:
        wind_from_deg = wind_speed_ms = None

    closure = [
        (Point(p["x"], p["y"]), _closure_label(p))
        for p in impact.closure_points
        if frame.intersects(Point(p["x"], p["y"]))
    ]
    place = event.place or ""
    source_label = place.split(" — ")[0] if place else ""
    if not event.site_fid:
        source_label = "Point déclaré"
    zone_labels = [
        MapZone(z.geometry, z.level, _zone_map_label(z)) for z in zones if not z.geometry.is_empty
    ]
    # No technical id on a map: it is printed in reports, read by people (the id is in the
    # report's annex).
    subtitle = " · ".join(
        x
        for x in (
            place,
            f"niveau {event.level}",
            "EXERCICE" if event.is_drill else "",
        )
        if x
    )
    return MapSpec(
        title=title or event.title,
        subtitle=subtitle,
        extent=frame_extent,
        zones=zone_labels,
        layers=drawn,
        source=source,
        source_label=source_label,
        wind_from_deg=wind_from_deg,
        wind_speed_ms=wind_speed_ms,
        grid_convergence_deg=proj.grid_factors(float(source.x), float(source.y))[0],
        notes=map_notes(impact),
        closure_points=closure,
        time_label=time_label,
        is_drill=event.is_drill,
        **(
            {
                "underlay": basemap,
                "attribution": f"Fond : {basemap.spec.attribution} ; limites IGN ADMIN EXPRESS",
            }
            if basemap is not None
            else {}
        ),
    )


def _one_label_per_name(
    geoms: Sequence[BaseGeometry], labels: Sequence[str | None]
) -> list[str | None]:
    """A road made of many segments is named once, on its longest segment in the frame."""
    best: dict[str, tuple[float, int]] = {}
    for i, (g, text) in enumerate(zip(geoms, labels, strict=True)):
        if text:
            length = float(g.length)
            if text not in best or length > best[text][0]:
                best[text] = (length, i)
    keep = {i for _, i in best.values()}
    return [text if i in keep else None for i, text in enumerate(labels)]


def _zone_map_label(zone: Zone) -> str:
    if zone.distance_m:
        generic = " (distance générique)" if zone.distance_source == "playbook" else ""
        return f"{zone.threshold} — {format_distance(zone.distance_m)}{generic}"
    return str(zone.threshold)


def map_notes(impact: Impact | None) -> list[str]:
    """The map's notes: the zones' caveats (``zone_caveats``), each said once with the zones
    it applies to ("Toutes les zones : distance générique du guide…")."""
    if impact is None:
        return []
    data = impact.to_json(items=False)  # the zones' own fields: no item list is built
    by_note: dict[str, list[str]] = {}
    for z in data["zones"]:
        for note in zone_caveats(z):
            by_note.setdefault(note, []).append(z["label"])
    out = []
    for note, names in by_note.items():
        who = "Toutes les zones" if len(names) == len(data["zones"]) > 1 else ", ".join(names)
        out.append(f"{who} : {note}")
    return out


def event_map_features(
    db: sqlite_utils.Database,
    index: SpatialIndex,
    event: Event,
    stored_zones: Zones | None,
    impact: Impact | None = None,
    *,
    layers: Layers | None = None,
) -> dict[str, Any]:
    """The interactive map's points, WGS84: source, closure points, public establishments.

    Establishments are those of the map's extent, each with the worst zone it lies in (or
    None). Only public layers: nothing here comes from a restricted or personal dataset.
    """
    zones = event_zones(stored_zones)
    source = _source_l93(event)
    read = layers if layers is not None else read_layers(db)
    if impact is None:
        query = impact_query(db, event, stored_zones, layers=read)
        impact = map_impact(db, index, event, stored_zones, query=query)
    frame = _extent_box(_map_extent(zones, source))
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [event.lon, event.lat]},
            "properties": {"kind": "source", "name": event.place or event.title},
        }
    ]
    for p in impact.closure_points:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
                "properties": {
                    "kind": "closure",
                    "road_id": p["road_id"],
                    "name": p["name"],
                    "ref": p["ref"],
                    "bearing_deg": p["bearing_deg"],
                },
            }
        )
    public = {s.slug: s for s in read.specs if s.sensitivity == "public"}
    for slug, spec in public.items():
        if spec.role != "establishments":
            continue
        layer = index.layer(slug, spec.revision)
        assert layer.x is not None and layer.y is not None
        assert layer.lon is not None and layer.lat is not None
        idx = layer.points_in(frame)
        level = np.full(len(idx), None, dtype=object)
        for zone in sorted(zones, key=lambda z: -z.severity):  # mildest first, worst wins
            if zone.geometry.is_empty:
                continue
            shapely.prepare(zone.geometry)
            inside = shapely.intersects_xy(zone.geometry, layer.x[idx], layer.y[idx])
            level[inside] = zone.level
        dist = np.hypot(layer.x[idx] - source.x, layer.y[idx] - source.y)
        cols = layer.properties.columns(("name", "type", "capacity", "commune"), None, idx)
        for k, i in enumerate(idx):
            item = {key: _plain(col[k]) for key, col in cols.items()}
            item.update(
                kind="establishment",
                dataset=slug,
                id=str(layer.ids[i]),
                zone=level[k],
                distance_m=round(float(dist[k]), 1),
            )
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Point",
                        "coordinates": [
                            round(float(layer.lon[i]), 7),
                            round(float(layer.lat[i]), 7),
                        ],
                    },
                    "properties": item,
                }
            )
    return {"type": "FeatureCollection", "event": event.id, "features": features}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
