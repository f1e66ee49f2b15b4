"""Impact analysis: who and what is inside each zone. One analysis feeds screen, API and reports.

Figures are cumulative per zone (everything inside the zone, not rings between zones), plus the
same figures for the outer zone (the union of all zones). Fast paths, all in Lambert-93:

- points: ``x``-sorted numpy arrays -> ``searchsorted`` + bbox mask -> ``shapely.intersects_xy``
  (a point on the boundary counts as inside);
- lines and cells: one ``STRtree`` bbox query for the outer zone, reused by every zone; cells and
  segments that the zone ``contains_properly`` count whole, and only the boundary-crossing ones
  are clipped with ``shapely.intersection``. The result equals clipping everything (the tests
  check it to 1e-6).

Access: public layers and layers whose slug is in ``open_datasets`` are listed in full;
restricted and personal layers that are not open give counts only (count, and length for
lines) — never ids, names, properties or geometry.

Coverage: a layer is complete only within its ``coverage`` (the territory, or the polygon its
catalogue entry declares). Each zone says which share of its area lies outside the coverage of
the layers it counts (``uncovered_share``, 0 to 1) and which layers stop at the edge, in French
(``coverage.note``: "34 % de la zone hors du territoire couvert : population et établissements
non comptés au-delà"). Each zone also carries where its distance comes from
(``distance_source``; ``generic_distance`` when it is the playbook's default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from app.geo import proj
from app.geo.index import Layer, SpatialIndex, numbers
from app.geo.zones import Zone, outer_zone

__all__ = ["Impact", "LayerSpec", "ZoneImpact", "analyse", "coverage_note", "zone_caveats", "ROLES"]

ROLES = (
    "population_grid",
    "communes",
    "establishments",
    "network_lines",
    "network_assets",
    "roads",
    "other",
)
CLOSURE_DEDUPE_M = 5.0
GRID_METHOD = "pondération surfacique sur la grille de 200 m (INSEE{synthetic})"
COMMUNES_METHOD = "pondération surfacique sur les communes (population communale{synthetic})"
SYNTHETIC = ", données synthétiques"


@dataclass(frozen=True)
class LayerSpec:
    """How the analysis should read one dataset."""

    slug: str
    title: str
    theme: str
    sensitivity: str  # public | restricted | personal
    geometry_type: str
    role: str
    source: str = ""  # e.g. "INSEE, Filosofi 2019" — shown next to population figures
    year: int | None = None
    # Where the layer is complete (Lambert-93), None: everywhere; and how to name that area.
    coverage: BaseGeometry | None = field(default=None, compare=False)
    coverage_label: str = "du territoire couvert"
    revision: int | None = None  # the dataset revision the caller read (None: the index asks)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"{self.slug}: unknown role {self.role!r}")


# Item keys the analysis adds itself (not dataset properties): kept whatever a grant's fields.
COMPUTED_KEYS = frozenset({"id", "dataset", "distance_m", "length_m", "area_m2"})
Page = tuple[int, int | None]  # (offset, limit or None for all)


@dataclass
class _Items:
    """Features found inside a zone; turned into dicts only when serialised."""

    layer: Layer
    idx: np.ndarray
    distance_m: np.ndarray | None  # to the source; None for lines and polygons
    fields: tuple[str, ...]
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.idx)

    def to_list(
        self, positions: np.ndarray | None = None, allowed: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """The items at ``positions`` (all by default); ``allowed``: the property names a grant
        shows (the analysis's own keys are always kept)."""
        sel = np.arange(len(self.idx)) if positions is None else np.asarray(positions)
        idx = self.idx[sel]
        rows = self.layer.properties.rows(idx)
        ids = self.layer.ids[idx].tolist()
        fields = self.fields if allowed is None else tuple(f for f in self.fields if f in allowed)
        dist = self.distance_m[sel].tolist() if self.distance_m is not None else None
        extra = {name: arr[sel].tolist() for name, arr in self.extra.items()}
        out = []
        for k, (fid, row) in enumerate(zip(ids, rows, strict=True)):
            item: dict[str, Any] = {"id": fid}
            for f in fields:
                item[f] = row.get(f)
            if dist is not None:
                item["distance_m"] = round(dist[k], 1)
            for name, values in extra.items():
                item[name] = round(values[k], 1)
            out.append(item)
        return out


def _page_slice(total: int, page: Page | None) -> slice:
    if page is None:
        return slice(0, total)
    offset, limit = page
    return slice(offset, total if limit is None else min(total, offset + limit))


@dataclass
class ZoneImpact:
    """Figures for one zone (or for the outer zone)."""

    id: str
    label: str
    level: str
    family: str
    threshold: str
    shape: str
    distance_m: float | None
    distance_source: str = ""  # site | playbook | data
    uncovered_share: float = 0.0
    uncovered: list[dict[str, Any]] = field(default_factory=list)
    population: dict[str, Any] | None = None
    establishments_by_type: dict[str, dict[str, float]] = field(default_factory=dict)
    establishments: list[tuple[str, _Items]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    network_items: dict[str, _Items] = field(default_factory=dict)
    restricted: list[dict[str, Any]] = field(default_factory=list)
    communes: list[dict[str, Any]] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)
    other_items: dict[str, _Items] = field(default_factory=dict)

    extra: dict[str, Any] = field(default_factory=dict)  # more figures per zone, as JSON

    def establishment_items(
        self, page: Page | None = None, allowed: dict[str, frozenset[str]] | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Establishments of every dataset, nearest first (then by id): the page and the total.

        Only the items of the page are built (``allowed``: a grant's fields per dataset).
        """
        parts = [(dataset, it) for dataset, it in self.establishments if len(it)]
        total = sum(len(it) for _, it in parts)
        if not parts:
            return [], 0
        keys: list[tuple[float, str, int, int]] = []
        for p, (_, it) in enumerate(parts):
            assert it.distance_m is not None
            ids = it.layer.ids[it.idx]
            for k, (d, i) in enumerate(zip(it.distance_m.tolist(), ids, strict=True)):
                keys.append((round(d, 1), i, p, k))
        keys.sort()
        chosen = keys[_page_slice(total, page)]
        items: list[dict[str, Any]] = []
        for p, (dataset, it) in enumerate(parts):
            positions = [k for _, _, q, k in chosen if q == p]
            if not positions:
                continue
            rows = it.to_list(np.array(positions), (allowed or {}).get(dataset))
            for row in rows:
                row["dataset"] = dataset
            items.extend(rows)
        items.sort(key=lambda r: (r["distance_m"], r["id"]))
        return items, total

    def to_json(
        self,
        items: bool = True,
        page: Page | None = None,
        allowed: dict[str, frozenset[str]] | None = None,
        memo: dict[Any, Any] | None = None,
    ) -> dict[str, Any]:
        """The zone as JSON.

        ``items=False`` leaves the item lists empty (the figures only); ``page`` = (offset,
        limit) pages every item list (``items_total`` gives each total); ``allowed`` keeps
        only a grant's fields in the items of an opened dataset. ``memo`` (shared by the zones
        of one :meth:`Impact.to_json`) builds each item list once, encoded by
        ``memo["__encode__"]`` when present: the outer zone shares its lists with the zone it
        equals.
        """
        allowed = allowed or {}
        memo = {} if memo is None else memo
        encode = memo.get("__encode__")

        def listed(it: _Items, dataset: str) -> Any:
            if not items:
                return []
            key = ("items", id(it), dataset)
            if key not in memo:
                positions = np.arange(len(it))[_page_slice(len(it), page)]
                rows = it.to_list(positions, allowed.get(dataset))
                memo[key] = encode(rows) if encode is not None else rows
            return memo[key]

        if not items:
            est_items: Any = []
            est_total = sum(len(it) for _, it in self.establishments)
        else:
            key = ("establishments", id(self.establishments))
            if key not in memo:
                rows, total = self.establishment_items(page, allowed)
                memo[key] = (encode(rows) if encode is not None else rows, total)
            est_items, est_total = memo[key]
        networks = []
        for net in self.networks:
            net = dict(net)
            if net["dataset"] in self.network_items:
                it = self.network_items[net["dataset"]]
                net["items"] = listed(it, net["dataset"])
                net["items_total"] = len(it)
            networks.append(net)
        other = []
        for o in self.other:
            o = dict(o)
            if o["dataset"] in self.other_items:
                it = self.other_items[o["dataset"]]
                o["items"] = listed(it, o["dataset"])
                o["items_total"] = len(it)
            other.append(o)
        return {
            "id": self.id,
            "level": self.level,
            "label": self.label,
            "threshold": self.threshold,
            "family": self.family,
            "shape": self.shape,
            "distance_m": self.distance_m,
            "distance_source": self.distance_source,
            "generic_distance": self.distance_source == "playbook",
            "uncovered_share": round(self.uncovered_share, 4),
            "coverage": {
                "uncovered_share": round(self.uncovered_share, 4),
                "note": coverage_note(self.uncovered),
                "groups": [dict(g) for g in self.uncovered],
            },
            "population": dict(self.population) if self.population else None,
            "establishments": {
                "by_type": {k: dict(v) for k, v in sorted(self.establishments_by_type.items())},
                "items": est_items,
                "items_total": est_total,
            },
            "networks": networks,
            "restricted": [dict(r) for r in self.restricted],
            "communes": [dict(c) for c in self.communes],
            "other": other,
            **{k: v for k, v in self.extra.items()},
        }


@dataclass
class Impact:
    """The whole analysis: per zone (worst first), the outer zone, and road closure points."""

    zones: list[ZoneImpact]
    outer: ZoneImpact
    closure_points: list[dict[str, Any]]
    closure_restricted: list[dict[str, Any]]
    source: dict[str, float]
    open_datasets: frozenset[str]
    outer_same_as: str | None = None  # the zone the outer zone equals (a single zone, nested)

    def zone(self, zone_id: str) -> ZoneImpact:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(zone_id)

    def to_json(
        self,
        items: bool = True,
        page: Page | None = None,
        allowed: dict[str, frozenset[str]] | None = None,
        encode: Any = None,
    ) -> dict[str, Any]:
        """Plain, JSON-serialisable dict with stable keys (arguments: :meth:`ZoneImpact.to_json`).

        ``encode``: a function turning a list of item dicts into its encoded form (e.g. an
        ``orjson.Fragment``); the outer zone shares its lists with the zone it equals, and
        each list is built and encoded once.
        """
        memo: dict[Any, Any] = {} if encode is None else {"__encode__": encode}
        outer = self.outer.to_json(items, page, allowed, memo)
        if self.outer_same_as is not None:
            outer["same_as"] = self.outer_same_as
        return {
            "source": dict(self.source),
            "zones": [z.to_json(items, page, allowed, memo) for z in self.zones],
            "outer": outer,
            "closure_points": [dict(p) for p in self.closure_points],
            "closure_restricted": [dict(r) for r in self.closure_restricted],
            "open_datasets": sorted(self.open_datasets),
        }


# -- helpers ---------------------------------------------------------------------------------


def _visible(spec: LayerSpec, open_datasets: frozenset[str]) -> bool:
    return spec.sensitivity == "public" or spec.slug in open_datasets


def _restricted_entry(spec: LayerSpec, count: int, length_m: float | None) -> dict[str, Any]:
    return {
        "dataset": spec.slug,
        "title": spec.title,
        "sensitivity": spec.sensitivity,
        "count": int(count),
        "length_m": None if length_m is None else round(float(length_m), 1),
    }


class _Candidates:
    """Outer-zone bbox candidates of a line/polygon layer, narrowed per zone."""

    def __init__(self, layer: Layer, outer: BaseGeometry) -> None:
        assert layer.tree is not None and layer.geoms is not None
        self.layer = layer
        self.idx = layer.tree.query(outer) if not outer.is_empty else np.zeros(0, np.intp)
        self.geoms = layer.geoms[self.idx]
        self.bounds = shapely.bounds(self.geoms).reshape(-1, 4)

    def in_bbox(self, geom: BaseGeometry) -> np.ndarray:
        """Positions (into ``self.idx``) whose bbox meets ``geom``'s bbox."""
        if geom.is_empty or len(self.idx) == 0:
            return np.zeros(0, dtype=np.intp)
        xmin, ymin, xmax, ymax = geom.bounds
        b = self.bounds
        m = (b[:, 0] <= xmax) & (b[:, 2] >= xmin) & (b[:, 1] <= ymax) & (b[:, 3] >= ymin)
        return np.nonzero(m)[0]

    def clip(self, geom: BaseGeometry, measure: str) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the features meeting ``geom`` and the measure inside (area or length).

        Interior features (``contains_properly``) keep their whole measure; only the others
        are intersected.
        """
        pos = self.in_bbox(geom)
        if len(pos) == 0:
            return pos, np.zeros(0)
        shapely.prepare(geom)
        g = self.geoms[pos]
        interior = shapely.contains_properly(geom, g)
        edge = np.nonzero(~interior)[0]
        edge = edge[shapely.intersects(geom, g[edge])]
        measure_fn = shapely.area if measure == "area" else shapely.length
        value = np.zeros(len(pos))
        value[interior] = measure_fn(g[interior])
        if len(edge):
            value[edge] = measure_fn(shapely.intersection(g[edge], geom))
        hit = interior.copy()
        hit[edge] = True
        return pos[hit], value[hit]


class _PointCandidates:
    """Outer-zone points of a point layer, narrowed per zone."""

    def __init__(self, layer: Layer, outer: BaseGeometry) -> None:
        assert layer.x is not None and layer.y is not None
        self.layer = layer
        self.outer = outer
        self.idx = layer.points_in(outer)
        self.x = layer.x[self.idx]
        self.y = layer.y[self.idx]

    def inside(self, geom: BaseGeometry, is_outer: bool) -> np.ndarray:
        """Layer indices of the points in ``geom`` (boundary included)."""
        if is_outer or geom is self.outer or len(self.idx) == 0:
            return self.idx
        if geom.is_empty:
            return np.zeros(0, dtype=np.intp)
        xmin, ymin, xmax, ymax = geom.bounds
        m = (self.x >= xmin) & (self.x <= xmax) & (self.y >= ymin) & (self.y <= ymax)
        pos = np.nonzero(m)[0]
        shapely.prepare(geom)
        pos = pos[shapely.intersects_xy(geom, self.x[pos], self.y[pos])]
        return self.idx[pos]


def _by_type(layer: Layer, idx: np.ndarray, acc: dict[str, dict[str, float]]) -> None:
    if len(idx) == 0:
        return
    rows = layer.properties.rows(idx)
    types = np.array([r.get("type", "autre") for r in rows], dtype=object)
    caps = numbers(r.get("capacity") for r in rows)
    uniq, inv = np.unique(types.astype(str), return_inverse=True)
    counts = np.bincount(inv, minlength=len(uniq))
    capsum = np.bincount(inv, weights=caps, minlength=len(uniq))
    for t, c, cap in zip(uniq, counts, capsum, strict=True):
        entry = acc.setdefault(str(t), {"count": 0, "capacity": 0})
        entry["count"] += int(c)
        entry["capacity"] += int(round(cap))


# -- the analysis ----------------------------------------------------------------------------


def analyse(
    zones: Sequence[Zone],
    index: SpatialIndex,
    layers: Iterable[LayerSpec],
    source_l93: Point,
    open_datasets: Iterable[str] = frozenset(),
    *,
    outer_only: bool = False,
) -> Impact:
    """Analyse every zone (worst first) and the outer zone against ``layers``.

    Each layer is read at its spec's ``revision``. ``outer_only``: the outer zone alone (what a
    map shows: closure points and the counts of what it may not draw); ``zones`` is then empty.
    """
    opened = frozenset(open_datasets)
    specs = list(layers)
    ordered = sorted(zones, key=lambda z: z.severity)
    outer_geom = outer_zone(ordered)
    sx, sy = float(source_l93.x), float(source_l93.y)

    outer_impact = ZoneImpact(
        id="outer",
        label="Zone enveloppe",
        level=ordered[-1].level if ordered else "",
        family="+".join(sorted({z.family for z in ordered})),
        threshold="",
        shape="union",
        distance_m=max((z.distance_m or 0.0 for z in ordered), default=None),
        distance_source=_outer_source(ordered),
    )
    zone_impacts = [
        ZoneImpact(
            id=z.id,
            label=z.label,
            level=z.level,
            family=z.family,
            threshold=z.threshold,
            shape=z.shape,
            distance_m=z.distance_m,
            distance_source=z.distance_source,
        )
        for z in ordered
        if not outer_only
    ]
    targets: list[tuple[ZoneImpact, BaseGeometry, bool]] = [
        (zi, z.geometry, False)
        for zi, z in zip(zone_impacts, [] if outer_only else ordered, strict=True)
    ]
    same_as_outer = next((zi for zi, g, _ in targets if g is outer_geom), None)
    if same_as_outer is None:
        targets.append((outer_impact, outer_geom, True))

    grid = next((s for s in specs if s.role == "population_grid"), None)
    communes = next((s for s in specs if s.role == "communes"), None)
    communes_layer = index.layer(communes.slug, communes.revision) if communes else None

    if grid is not None:
        grid_layer = index.layer(grid.slug, grid.revision)
        _population_grid(grid_layer, grid, communes_layer, outer_geom, targets)
    elif communes_layer is not None and communes is not None:
        _population_communes(communes_layer, communes, outer_geom, targets)

    for spec in specs:
        if spec.role in ("population_grid", "communes"):
            continue
        if spec.role == "roads":
            continue  # closure points below
        layer = index.layer(spec.slug, spec.revision)
        visible = _visible(spec, opened)
        if layer.kind == "point":
            _points(layer, spec, visible, outer_geom, targets, sx, sy)
        else:
            _lines_or_polygons(layer, spec, visible, outer_geom, targets)

    closure: list[dict[str, Any]] = []
    closure_restricted: list[dict[str, Any]] = []
    for spec in specs:
        if spec.role != "roads":
            continue
        points = closure_points(index.layer(spec.slug, spec.revision), outer_geom, sx, sy)
        if _visible(spec, opened):
            for p in points:
                p["dataset"] = spec.slug
            closure.extend(points)
        else:
            closure_restricted.append(_restricted_entry(spec, len(points), None))
    closure.sort(key=lambda p: (p["bearing_deg"], p["dataset"], p["road_id"]))
    for zi, geom, _ in targets:
        _coverage(zi, geom, specs)

    if same_as_outer is not None:
        # The outer zone is one of the zones (a single zone, or nested zones): same figures.
        outer_impact = replace(
            same_as_outer,
            id=outer_impact.id,
            label=outer_impact.label,
            level=outer_impact.level,
            family=outer_impact.family,
            threshold=outer_impact.threshold,
            shape=outer_impact.shape,
            distance_m=outer_impact.distance_m,
            distance_source=outer_impact.distance_source,
        )
    lon, lat = proj.l93_to_lonlat(sx, sy)
    return Impact(
        zones=zone_impacts,
        outer=outer_impact,
        closure_points=closure,
        closure_restricted=closure_restricted,
        source={"x": sx, "y": sy, "lon": round(float(lon), 7), "lat": round(float(lat), 7)},
        open_datasets=opened,
        outer_same_as=same_as_outer.id if same_as_outer is not None else None,
    )


def _outer_source(zones: Sequence[Zone]) -> str:
    """The outer zone's distances are generic as soon as one of its zones' are."""
    sources = {z.distance_source for z in zones}
    if "playbook" in sources:
        return "playbook"
    return sources.pop() if len(sources) == 1 else ""


# -- coverage --------------------------------------------------------------------------------

ROLE_NAMES = {
    "population_grid": "population",
    "communes": "population",
    "establishments": "établissements",
    "network_lines": "réseaux",
    "network_assets": "réseaux",
    "roads": "points de bouclage",
}
UNCOVERED_MIN = 0.001  # below a thousandth of the zone's area, the edge is a drawing detail


def _coverage(zi: ZoneImpact, geom: BaseGeometry, specs: Sequence[LayerSpec]) -> None:
    """The share of the zone outside its layers' coverage, grouped by coverage (in place)."""
    area = float(geom.area)
    if area <= 0:
        return
    groups: dict[str, tuple[BaseGeometry, list[LayerSpec]]] = {}
    for spec in specs:
        if spec.coverage is None:
            continue
        key = spec.coverage_label
        groups.setdefault(key, (spec.coverage, []))[1].append(spec)
    covered: BaseGeometry | None = None
    out = []
    for label, (cover, members) in groups.items():
        outside = float(shapely.difference(geom, cover).area) / area
        covered = cover if covered is None else shapely.intersection(covered, cover)
        if outside < UNCOVERED_MIN:
            continue
        names = [n for n in dict.fromkeys(ROLE_NAMES.values()) if any(
            ROLE_NAMES.get(s.role) == n for s in members
        )]  # fmt: skip
        others = [s for s in members if s.role not in ROLE_NAMES]
        if len(others) == 1:
            names.append(f"« {others[0].title} »")
        elif others:
            names.append(f"{len(others)} autres couches")
        out.append(
            {
                "coverage": label,
                "share": round(outside, 4),
                "datasets": [s.slug for s in members],
                "layers": names,
            }
        )
    if covered is not None:
        share = float(shapely.difference(geom, covered).area) / area
        zi.uncovered_share = share if share >= UNCOVERED_MIN else 0.0
    zi.uncovered = sorted(out, key=lambda g: -g["share"])


def _percent(share: float) -> str:
    if share < 0.01:
        return "moins de 1\u202f%"
    return f"{round(share * 100):d}\u202f%"


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " et " + names[-1]


def coverage_note(groups: Sequence[dict[str, Any]]) -> str:
    """French: "34 % de la zone hors du territoire couvert : population et établissements non
    comptés au-delà" (one clause per coverage), or "" when the zone is covered."""
    clauses = []
    for g in groups:
        layers = list(g["layers"])
        if layers == ["population"]:
            counted = "non comptée"
        elif len(layers) == 1 and layers[0].startswith("«"):
            counted = "non compté"
        else:
            counted = "non comptés"
        clauses.append(
            f"{_percent(g['share'])} de la zone hors {g['coverage']} : {_join(layers)}"
            f" {counted} au-delà"
        )
    return " ; ".join(clauses)


GENERIC_DISTANCE = (
    "distance générique du guide, pas celle d'une étude de dangers"
    " (aucune distance d'effets publiée pour ce lieu)"
)


def zone_caveats(zone: Mapping[str, Any]) -> list[str]:
    """What a zone's figures (``ZoneImpact.to_json()``) do not say, in French: a distance that
    is the playbook's generic default, a zone leaving the data's coverage. Shown with the
    figures everywhere (screen, tablet, reports, map extracts, CAP)."""
    out = []
    if zone.get("generic_distance"):
        out.append(GENERIC_DISTANCE[0].upper() + GENERIC_DISTANCE[1:] + ".")
    note = (zone.get("coverage") or {}).get("note")
    if note:
        out.append(note[0].upper() + note[1:] + ".")
    return out


def _is_synthetic(layer: Layer, idx: np.ndarray) -> bool:
    if len(idx) == 0:
        return False
    return bool(np.any(layer.properties.column("source", None, idx[:1000]) == "synthetic"))


def _population_meta(spec: LayerSpec, method: str, synthetic: bool) -> dict[str, Any]:
    return {
        "method": method.format(synthetic=SYNTHETIC if synthetic else ""),
        "source": spec.source or f"{spec.title} ({spec.slug})",
        "year": spec.year,
    }


def _population_grid(
    layer: Layer,
    spec: LayerSpec,
    communes: Layer | None,
    outer: BaseGeometry,
    targets: list[tuple[ZoneImpact, BaseGeometry, bool]],
) -> None:
    cand = _Candidates(layer, outer)
    ind = layer.properties.numeric("ind", cand.idx)
    meta = _population_meta(spec, GRID_METHOD, _is_synthetic(layer, cand.idx))
    cell_area = shapely.area(cand.geoms)
    for zi, geom, _ in targets:
        pos, inside_area = cand.clip(geom, "area")
        idx = cand.idx[pos]
        frac = np.minimum(1.0, inside_area / np.where(cell_area[pos] > 0, cell_area[pos], 1.0))
        people = ind[pos] * frac
        zi.population = {"total": float(people.sum()), **meta, "cells": int(len(idx))}
        zi.population["rounded"] = int(round(zi.population["total"]))
        if communes is not None:
            zi.communes = _communes_from_cells(communes, cand.geoms[pos], people, geom)


def _communes_from_cells(
    communes: Layer, cells: np.ndarray, people: np.ndarray, zone: BaseGeometry
) -> list[dict[str, Any]]:
    assert communes.tree is not None
    concerned = communes.tree.query(zone, predicate="intersects") if not zone.is_empty else []
    per: dict[int, float] = {int(c): 0.0 for c in concerned}
    if len(cells):
        pts = shapely.centroid(cells)
        pairs = communes.tree.query(pts, predicate="within")
        seen: set[int] = set()
        for cell_i, com_i in zip(pairs[0], pairs[1], strict=True):
            if cell_i in seen:  # a centroid on a shared border: first commune wins
                continue
            seen.add(int(cell_i))
            per[int(com_i)] = per.get(int(com_i), 0.0) + float(people[cell_i])
    return _commune_rows(communes, per)


def _commune_rows(communes: Layer, per: dict[int, float]) -> list[dict[str, Any]]:
    props = communes.properties
    total_pop = props.numeric("population")
    rows = []
    for i, inside in per.items():
        p = props[i]
        total = float(total_pop[i])
        rows.append(
            {
                "insee": str(p.get("insee", communes.ids[i])),
                "name": p.get("name", ""),
                "population_inside": round(inside, 1),
                "population": int(total),
                "share": round(inside / total, 4) if total > 0 else None,
            }
        )
    rows.sort(key=lambda r: (-r["population_inside"], r["insee"]))
    return rows


def _population_communes(
    communes: Layer,
    spec: LayerSpec,
    outer: BaseGeometry,
    targets: list[tuple[ZoneImpact, BaseGeometry, bool]],
) -> None:
    cand = _Candidates(communes, outer)
    pop = communes.properties.numeric("population")
    meta = _population_meta(spec, COMMUNES_METHOD, _is_synthetic(communes, cand.idx))
    areas = shapely.area(cand.geoms)
    for zi, geom, _ in targets:
        pos, inside_area = cand.clip(geom, "area")
        idx = cand.idx[pos]
        frac = np.minimum(1.0, inside_area / np.where(areas[pos] > 0, areas[pos], 1.0))
        people = pop[idx] * frac
        total = float(people.sum())
        zi.population = {"total": total, **meta, "cells": 0, "rounded": int(round(total))}
        zi.communes = _commune_rows(
            communes, {int(i): float(p) for i, p in zip(idx, people, strict=True)}
        )


def _points(
    layer: Layer,
    spec: LayerSpec,
    visible: bool,
    outer: BaseGeometry,
    targets: list[tuple[ZoneImpact, BaseGeometry, bool]],
    sx: float,
    sy: float,
) -> None:
    cand = _PointCandidates(layer, outer)
    assert layer.x is not None and layer.y is not None
    for zi, geom, is_outer in targets:
        idx = cand.inside(geom, is_outer)
        if not visible:
            zi.restricted.append(_restricted_entry(spec, len(idx), None))
            continue
        dist = np.hypot(layer.x[idx] - sx, layer.y[idx] - sy)
        order = np.argsort(dist, kind="stable")
        idx, dist = idx[order], dist[order]
        if spec.role == "establishments":
            fields = ("name", "type", "capacity", "commune")
            zi.establishments.append((spec.slug, _Items(layer, idx, dist, fields)))
            _by_type(layer, idx, zi.establishments_by_type)
        elif spec.role == "network_assets":
            by_type: dict[str, dict[str, float]] = {}
            _by_type(layer, idx, by_type)
            zi.networks.append(
                {
                    "dataset": spec.slug,
                    "title": spec.title,
                    "kind": "assets",
                    "count": int(len(idx)),
                    "length_m": None,
                    "by_type": {k: int(v["count"]) for k, v in sorted(by_type.items())},
                }
            )
            zi.network_items[spec.slug] = _Items(layer, idx, dist, ("name", "type"))
        else:
            zi.other.append({"dataset": spec.slug, "title": spec.title, "count": int(len(idx))})
            zi.other_items[spec.slug] = _Items(layer, idx, dist, ("name", "type"))


def _lines_or_polygons(
    layer: Layer,
    spec: LayerSpec,
    visible: bool,
    outer: BaseGeometry,
    targets: list[tuple[ZoneImpact, BaseGeometry, bool]],
) -> None:
    cand = _Candidates(layer, outer)
    measure = "length" if layer.kind == "line" else "area"
    for zi, geom, _ in targets:
        pos, value = cand.clip(geom, measure)
        idx = cand.idx[pos]
        total = float(value.sum())
        length = total if measure == "length" else None
        if not visible:
            zi.restricted.append(_restricted_entry(spec, len(idx), length))
            continue
        key = "length_m" if measure == "length" else "area_m2"
        items = _Items(layer, idx, None, ("name",), {key: value})
        if spec.role == "network_lines":
            zi.networks.append(
                {
                    "dataset": spec.slug,
                    "title": spec.title,
                    "kind": "lines",
                    "count": int(len(idx)),
                    "length_m": total,
                    "by_type": {},
                }
            )
            zi.network_items[spec.slug] = items
        else:
            zi.other.append(
                {"dataset": spec.slug, "title": spec.title, "count": int(len(idx)), key: total}
            )
            zi.other_items[spec.slug] = items


def closure_points(
    roads: Layer, zone: BaseGeometry, sx: float | None = None, sy: float | None = None
) -> list[dict[str, Any]]:
    """Points where road lines cross the boundary of ``zone``: one per crossing.

    Crossings of the same road (same ``ref``/``name``, else same id) closer than
    :data:`CLOSURE_DEDUPE_M` are merged: a road made of segments that meet on the boundary
    crosses it once. A road running along the boundary yields the ends of the shared stretch.
    """
    if zone.is_empty or roads.tree is None or roads.geoms is None:
        return []
    boundary = zone.boundary
    shapely.prepare(boundary)
    cand = roads.tree.query(boundary, predicate="intersects")
    if len(cand) == 0:
        return []
    inter = shapely.intersection(roads.geoms[cand], boundary)
    parts, owner = shapely.get_parts(inter, return_index=True)
    pts_x: list[float] = []
    pts_y: list[float] = []
    road_of: list[int] = []
    for part, o in zip(parts, owner, strict=True):
        if part.is_empty:
            continue
        if part.geom_type == "Point":
            coords = [(part.x, part.y)]
        else:  # overlap along the boundary: its two ends
            b = shapely.get_coordinates(part)
            coords = [tuple(b[0]), tuple(b[-1])]
        for x, y in coords:
            pts_x.append(float(x))
            pts_y.append(float(y))
            road_of.append(int(o))  # position in cand
    props = roads.properties
    cols = props.columns(("name", "ref", "kind"), "", cand)
    names, refs, kinds = cols["name"], cols["ref"], cols["kind"]
    ids = roads.ids[cand]
    kept: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for x, y, r in zip(pts_x, pts_y, road_of, strict=True):
        name, ref = names[r] or "", refs[r] or ""
        key = ("", str(ref), str(name)) if (name or ref) else (str(ids[r]), "", "")
        near = by_key.setdefault(key, [])
        if any(math.hypot(x - px, y - py) < CLOSURE_DEDUPE_M for px, py in near):
            continue
        near.append((x, y))
        lon, lat = proj.l93_to_lonlat(x, y)
        bearing = None
        if sx is not None and sy is not None:  # a true bearing, as a compass reads it
            grid = math.degrees(math.atan2(x - sx, y - sy)) % 360.0
            bearing = round(proj.true_bearing(sx, sy, grid), 1)
        kept.append(
            {
                "road_id": str(ids[r]),
                "name": name,
                "ref": ref,
                "kind": kinds[r] or "",
                "lon": round(float(lon), 7),
                "lat": round(float(lat), 7),
                "x": x,
                "y": y,
                "bearing_deg": bearing,
            }
        )
    return kept
