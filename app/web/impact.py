"""An event's zones, impact figures and map: JSON API, SVG, printable extract, htmx fragment.

Everything here reads through ``app.situation`` (one analysis, one map for screen, API and
reports) and the application's shared spatial index (``geoindex.get_index``). Restricted and
personal layers are counts only unless the user holds a valid grant: then the features are read
through ``app.access.read_features`` (scope, field whitelist and access record) and drawn marked
DIFFUSION RESTREINTE.

A request reads the catalogue once (``situation.read_layers``: every dataset's revision), the
user's valid grants once, and the event's zones version; with them it asks the memo of the index
(``SpatialIndex.memo``) for the analysis and for what it derives from it: the API's JSON bytes
(per grant fields and page), the figures, the map's points. An unchanged event answers from the
memo; the maps ask only for what they draw (``situation.map_impact``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from flask import Blueprint, Response, jsonify, make_response, request, url_for

from .. import access, events, history, situation
from ..clock import iso, local
from ..geo import render
from ..geo.impact import COMPUTED_KEYS, Page, zone_caveats
from ..pcs import centres
from ..records import Zones
from . import api_models as m
from .access import request_id
from .basemaps import library as basemap_library
from .context import event_or_404, get_db, live_state, now, require_user
from .errors import fail
from .geoindex import get_index
from .htmx import htmx
from .htmx import render as render_page
from .offline import unrestricted_view
from .openapi import describe
from .security import allow

bp = Blueprint("impact", __name__)

READ_ROLES = events.READ_ROLES  # the same rule as the event pages
SVG_SIZE = (960.0, 640.0)  # points; the SVG scales with CSS
# An SVG shown through <img> or opened alone: no script, its inline style attributes only.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
SORTS = ("distance", "name", "type", "capacity")
BASEMAP = ("territory", "communes", "seine", "roads")
MAX_LIMIT = 100_000  # items per list and page of the impact API
_JSON_OPTIONS = orjson.OPT_SORT_KEYS  # the key order of Flask's jsonify


# -- helpers ---------------------------------------------------------------------------------


Grants = dict[str, tuple[list[dict[str, Any]], Any]]


@dataclass(frozen=True)
class _Situation:
    """What one request read, once: the event, its zones, the catalogue, the opened datasets."""

    event: events.Event
    zones: Zones | None
    layers: situation.Layers
    grants: Grants
    query: situation.ImpactQuery
    allowed: dict[str, frozenset[str]]  # a grant's visible fields, per opened dataset
    at: datetime | None = None  # a past moment (historical view, ``?at=``), None: now

    @property
    def key(self) -> tuple[Any, ...]:
        """The analysis's key, plus the fields the user's grants show."""
        fields = tuple(sorted((slug, tuple(sorted(f))) for slug, f in self.allowed.items()))
        return (*self.query.key, fields, request.script_root)


def _grants(
    event: events.Event, zones: Zones | None, purpose: str, layers: situation.Layers
) -> Grants:
    """Restricted/personal datasets the user's grants open now: slug -> (features, grant).

    The valid grants are read once; each read goes through ``access.read_features`` (scope,
    fields, access record); a dataset without a valid grant is simply absent (counts only), no
    denial is recorded for it.
    """
    db, t, user = get_db(), now(), require_user()
    opened: Grants = {}
    if unrestricted_view():  # the copy a tablet may keep offline: counts only
        return opened
    valid = access.valid_grants(db, t, user, event.id)
    for spec in layers.specs:
        if spec.sensitivity == "public" or spec.slug not in valid:
            continue
        try:
            opened[spec.slug] = access.read_features(
                db, t, user, event.id, spec.slug, purpose, request_id(), event=event, zones=zones
            )
        except access.AccessError:
            continue
    return opened


def _situation(
    event: events.Event, purpose: str, past: tuple[Zones | None, datetime] | None = None
) -> _Situation:
    """What a view reads once: now, or ``past`` (the zones in force at a moment, the moment)."""
    db = get_db()
    if past is None:
        zones, at = events.latest_zones(db, event.id), None  # read once and passed down
    else:
        zones, at = past
    layers = situation.read_layers(db)
    grants = _grants(event, zones, purpose, layers)
    query = situation.impact_query(db, event, zones, grants, layers=layers)
    allowed = {
        slug: frozenset(getattr(g, "fields", ()) or ()) | COMPUTED_KEYS
        for slug, (_, g) in grants.items()
    }
    return _Situation(event, zones, layers, grants, query, allowed, at)


def as_at(event: events.Event) -> tuple[events.Event, Zones | None, datetime | None]:
    """The event and its zones as a route shows them: now, or with ``?at=`` as they stood then
    (``app.history``: the zones version in force, the level and parameters of the time; a bad
    ``at`` is a 400 with a French message). Read once and passed down."""
    if "at" not in request.args:
        return event, events.latest_zones(get_db(), event.id), None
    at = history.parse_at(request.args["at"], event, now())
    then, _, _ = history.event_at(get_db(), event, at)
    return then, history.zones_at(get_db(), event.id, at), at


def _requested(event: events.Event, purpose: str) -> _Situation:
    """The situation a route shows (``as_at``), with what the user's grants open now."""
    then, zones, at = as_at(event)
    return _situation(then, purpose, (zones, at))


def as_at_fields(at: datetime | None) -> dict[str, Any]:
    """What an API answer adds when it shows a past moment: ``as_at`` and the data the impact
    of that moment is analysed against."""
    if at is None:
        return {}
    return {
        "as_at": iso(at),
        "analysed_against": {"catalogue": "current", "note": history.LIMITS[0]},
    }


def _grant_url(event_id: int, slug: str) -> str:
    return url_for("access.new_grant", event_id=event_id, dataset=slug)


def _with_access_links(data: dict[str, Any], event_id: int) -> dict[str, Any]:
    """Each restricted count gets the link that requests access (in place)."""
    for zone in [*data["zones"], data["outer"]]:
        for entry in zone["restricted"]:
            entry["request_access"] = _grant_url(event_id, entry["dataset"])
    for entry in data["closure_restricted"]:
        entry["request_access"] = _grant_url(event_id, entry["dataset"])
    return data


def _encoded(rows: list[dict[str, Any]]) -> orjson.Fragment:
    """A list of items, encoded once (the outer zone reuses a zone's encoded lists)."""
    try:
        return orjson.Fragment(orjson.dumps(rows, option=_JSON_OPTIONS))
    except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits
        text = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return orjson.Fragment(text.encode("utf-8"))


def _dumps(data: Any) -> bytes:
    try:
        return orjson.dumps(data, option=_JSON_OPTIONS) + b"\n"
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(data, sort_keys=True).encode("utf-8") + b"\n"


def _time_label(at: datetime | None = None) -> str:
    if at is not None:
        return f"situation au {local(at, '%d/%m/%Y %H:%M')} (vue historique)"
    return local(now(), "%d/%m/%Y %H:%M")


def _map_spec(event: events.Event, purpose: str) -> tuple[render.MapSpec, datetime | None]:
    sit = _requested(event, purpose)
    event = sit.event
    db, index = get_db(), get_index()
    impact = situation.map_impact(db, index, event, sit.zones, query=sit.query)
    open_layers = {slug: feats for slug, (feats, _) in sit.grants.items()}
    return situation.event_map_spec(
        db,
        index,
        event,
        sit.zones,
        open_layers=open_layers,
        impact=impact,
        time_label=_time_label(sit.at),
        basemap=basemap_library().default,  # the territory's raster basemap, if it has one
        layers=sit.layers,
    ), sit.at


def caveats(data: dict[str, Any]) -> list[tuple[dict[str, Any], list[str]]]:
    """(zone, French caveats) of each zone whose figures have limits (``zone_caveats``): a
    generic distance, a part outside the data's coverage; the outer zone when it adds one."""
    out = [(z, zone_caveats(z)) for z in data["zones"]]
    seen = {tuple(c) for _, c in out}
    outer = zone_caveats(data["outer"])
    if len(data["zones"]) > 1 and outer and tuple(outer) not in seen:
        out.append((data["outer"], outer))
    return [(z, c) for z, c in out if c]


def figures_context(
    event: events.Event,
    zone: str | None,
    sort: str | None,
    past: tuple[Zones | None, datetime] | None = None,
) -> dict[str, Any]:
    """The context of ``impact/_figures.html`` for ``event``: now, or ``past`` (the zones in
    force at a moment and that moment: a historical view, whose links then keep it)."""
    return _figures(_situation(event, "view", past), zone, sort)


def _figures(sit: _Situation, zone: str | None, sort: str | None) -> dict[str, Any]:
    event = sit.event
    db, index = get_db(), get_index()

    def summary() -> dict[str, Any]:
        impact = situation.event_impact(db, index, event, sit.zones, query=sit.query)
        return _with_access_links(impact.to_json(items=False, allowed=sit.allowed), event.id)

    data: dict[str, Any] = index.memo.get_or_compute(
        ("figures", *sit.key), summary, lambda _: 64 * 1024
    )
    zones = {z["id"] for z in data["zones"]}
    selected = zone if zone in zones or zone == "outer" else "outer"
    detail = (
        data["outer"]
        if selected == "outer"
        else next(z for z in data["zones"] if z["id"] == selected)
    )
    sort = sort if sort in SORTS else "distance"

    def listed() -> list[dict[str, Any]]:
        impact = situation.event_impact(db, index, event, sit.zones, query=sit.query)
        z = impact.outer if selected == "outer" else impact.zone(selected)
        items, _ = z.establishment_items(None, sit.allowed)
        if sort == "name":
            items.sort(key=lambda r: (str(r.get("name") or ""), r["distance_m"]))
        elif sort == "type":
            items.sort(key=lambda r: (str(r.get("type") or ""), r["distance_m"]))
        elif sort == "capacity":
            items.sort(key=lambda r: (-(r.get("capacity") or 0), r["distance_m"]))
        return items

    items = index.memo.get_or_compute(
        ("figures-items", *sit.key, selected, sort), listed, lambda rows: 256 * len(rows) + 256
    )
    return {
        "impact_caveats": caveats(data),
        "impact": data,
        "impact_zone": selected,
        "impact_detail": detail,
        "impact_items": items,
        "impact_sort": sort,
        "impact_opened": sorted(sit.grants),
        "impact_zones_version": sit.query.zones_version,
        "impact_zones_at": sit.zones["computed_at"] if sit.zones else None,
        "impact_at": iso(sit.at) if sit.at is not None else None,
        "impact_basis": history.LIMITS[0] if sit.at is not None else "",
        "establishment_noun": situation.establishment_noun,
    }


def _page() -> Page | None:
    """``?limit=&offset=`` of the impact API (None: every item)."""
    raw_limit = request.args.get("limit")
    raw_offset = request.args.get("offset")
    if raw_limit is None and raw_offset is None:
        return None

    def number(raw: str | None, name: str, default: int | None) -> int | None:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if not 0 <= value <= (MAX_LIMIT if name == "limit" else 10**9):
            bound = f"0 à {MAX_LIMIT:_}".replace("_", " ") if name == "limit" else "0 ou plus"
            fail(400, f"Paramètre « {name} » : un nombre entier attendu ({bound}).")
        return value

    offset = number(raw_offset, "offset", 0)
    assert offset is not None
    return (offset, number(raw_limit, "limit", None))


def key_figures_context(
    event: events.Event, latest: Zones | None, *, in_page: bool = False
) -> dict[str, Any]:
    """The key figures (``impact/_key_figures.html``): population, sensitive establishments,
    closure points and restricted counts per zone. Counts only: no grant is read for them, so
    the page holding them stays one a tablet may keep offline. ``in_page``: for a page that
    holds them — while the spatial index is being built in the background, the page answers at
    once and the region loads itself (``key_pending``) rather than waiting for the build."""
    db, index = get_db(), get_index()
    query = situation.impact_query(db, event, latest, frozenset())
    if in_page and index.memo.get(query.key) is None and index.building:
        return {"key_pending": True, "key_zones": latest}
    impact = situation.event_impact(db, index, event, latest, frozenset(), query=query)
    zones = [*impact.zones]
    rows: list[dict[str, Any]] = []
    for zone in zones:
        by_type = zone.establishments_by_type
        rows.append(
            {
                "id": zone.id,
                "level": zone.level,
                "threshold": zone.threshold,
                "label": zone.label,
                "distance_m": zone.distance_m,
                "population": (zone.population or {}).get("rounded"),
                "establishments": sum(int(v.get("count") or 0) for v in by_type.values()),
                "capacity": sum(int(v.get("capacity") or 0) for v in by_type.values()),
                "restricted": sum(int(r.get("count") or 0) for r in zone.restricted),
            }
        )
    outer = impact.outer
    outer_types = outer.establishments_by_type
    hidden = [r for r in outer.restricted if r.get("count")]
    return {
        "key_rows": rows,
        "key_population": (outer.population or {}).get("rounded") if zones else None,
        "key_population_source": (outer.population or {}).get("source"),
        "key_establishments": sum(int(v.get("count") or 0) for v in outer_types.values()),
        "key_capacity": sum(int(v.get("capacity") or 0) for v in outer_types.values()),
        "key_closures": len(impact.closure_points),
        "key_restricted": sum(int(r["count"]) for r in hidden),
        "key_restricted_sets": len(hidden),
        "key_zones": latest,
    }


# -- JSON API --------------------------------------------------------------------------------


@bp.get("/api/v1/events/<int:event_id>/zones")
@allow(*READ_ROLES)
@describe(
    "Les zones de l'événement (GeoJSON)",
    tag="Situation",
    query=m.AtQuery,
    response=m.FeatureCollection,
    media="application/geo+json",
)
def zones_api(event_id: int) -> Response:
    """The event's current zones (``?at=``: the version in force then): GeoJSON, WGS84."""
    event, zones, at = as_at(event_or_404(event_id))
    collection = situation.zones_collection(event, zones)
    if at is not None:
        collection["as_at"] = iso(at)
    response = jsonify(collection)
    response.mimetype = "application/geo+json"
    return response


@bp.get("/api/v1/events/<int:event_id>/impact")
@allow(*READ_ROLES)
@describe(
    "Les chiffres par zone",
    tag="Situation",
    query=m.ImpactQuery,
    response=m.Impact,
    notes="Avec ?limit=&offset=, chaque liste d'éléments est paginée (items_total dit combien "
    "il y en a) ; « page » rappelle la pagination appliquée.",
)
def impact_api(event_id: int) -> Response:
    """Per zone: population, establishments, networks, closure points, restricted counts.

    ``?limit=&offset=`` page every item list (each has its ``items_total``). The JSON is built
    once per analysis, grant fields and page, then answered from the memo. ``?at=``: the zones
    version in force then, against the current catalogue.
    """
    page = _page()
    sit = _requested(event_or_404(event_id), "api")
    event = sit.event
    db, index = get_db(), get_index()

    def build() -> bytes:
        impact = situation.event_impact(db, index, event, sit.zones, query=sit.query)
        data = impact.to_json(page=page, allowed=sit.allowed, encode=_encoded)
        _with_access_links(data, event.id)
        data["event"] = event.id
        data["drill"] = event.is_drill
        data["zones_version"] = sit.query.zones_version
        if page is not None:
            data["page"] = {"offset": page[0], "limit": page[1]}
        data.update(as_at_fields(sit.at))
        return _dumps(data)

    moment = iso(sit.at) if sit.at is not None else None
    body: bytes = index.memo.get_or_compute(("api", *sit.key, page, moment), build, len)
    return Response(body, mimetype="application/json")


@bp.get("/api/v1/events/<int:event_id>/map-features")
@allow(*READ_ROLES)
@describe(
    "Les points de la carte interactive",
    tag="Situation",
    query=m.AtQuery,
    response=m.MapFeatures,
    media="application/geo+json",
)
def map_features_api(event_id: int) -> Response:
    """Points for the interactive map: closure points and public establishments near the zones.

    Restricted and personal layers come as counts (``restricted``) with the link to request
    access; those the user holds a valid grant for come in ``opened``, read through
    ``access.read_features`` (zone scope, field whitelist, an access record per read).
    """
    sit = _requested(event_or_404(event_id), "map")
    event = sit.event
    db, index = get_db(), get_index()
    impact = situation.map_impact(db, index, event, sit.zones, query=sit.query)

    def points() -> dict[str, Any]:
        return situation.event_map_features(db, index, event, sit.zones, impact, layers=sit.layers)

    public = index.memo.get_or_compute(
        ("map-features", *sit.query.key), points, lambda c: 1024 + 512 * len(c["features"])
    )
    collection = dict(public)
    collection["restricted"] = [
        {**r, "request_access": _grant_url(event.id, r["dataset"])}
        for r in impact.outer.restricted
        if r["dataset"] not in sit.grants
    ]
    collection["opened"] = [
        {
            "dataset": slug,
            "title": grant.dataset_title,
            "sensitivity": grant.sensitivity,
            "expires_at": grant.expires_at,
            "features": {"type": "FeatureCollection", "features": features},
            "source": features.source.as_json() if getattr(features, "source", None) else None,
        }
        for slug, (features, grant) in sorted(sit.grants.items())
    ]
    # Open reception centres with their places left (public facts, app.pcs.centres).
    moment = iso(sit.at) if sit.at is not None else None
    open_centres = [c.feature() for c in centres.open_centres(db, event.id, moment)]
    collection["features"] = [*public["features"], *open_centres]
    if moment is not None:
        collection["as_at"] = moment
    response = jsonify(collection)
    response.mimetype = "application/geo+json"
    return response


# -- map: SVG and printable extract ----------------------------------------------------------


@bp.get("/events/<int:event_id>/map.svg")
@allow(*READ_ROLES)
def map_svg(event_id: int) -> Response:
    """The event's map as a standalone SVG (the same drawing as the printable extract)."""
    spec, _ = _map_spec(event_or_404(event_id), "map")
    svg = render.drawing_to_svg(render.render_map(spec, *SVG_SIZE))
    response = make_response(svg)
    response.mimetype = "image/svg+xml"
    response.headers["Content-Security-Policy"] = SVG_CSP
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="carte-{event_id}.svg"'
    return response


@bp.get("/events/<int:event_id>/extract.pdf")
@allow(*READ_ROLES)
def map_extract(event_id: int) -> Response:
    """The printable landscape extract (``?paper=A4`` or ``A3``)."""
    event = event_or_404(event_id)
    paper = request.args.get("paper", "A4").upper()
    if paper not in render.PAPER_SIZES:
        fail(400, "Format de papier attendu : A4 ou A3.")
    spec, at = _map_spec(event, "export")
    pdf = render.map_extract_pdf(spec, paper, _time_label(at))
    response = make_response(pdf)
    response.mimetype = "application/pdf"
    name = f"extrait-carte-evenement-{event_id}-{paper}.pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    return response


# -- figures fragment ------------------------------------------------------------------------


@bp.get("/events/<int:event_id>/impact")
@allow(*READ_ROLES)
def show_impact(event_id: int) -> Response:
    """The figures per zone and the sortable lists (a fragment for htmx, a page otherwise)."""
    sit = _requested(event_or_404(event_id), "view")
    # The page follows the event live (not a view of a past moment: ?at=).
    state = None if htmx or request.args.get("at") else live_state(sit.event.id)
    ctx = _figures(sit, request.args.get("zone"), request.args.get("sort"))
    return render_page(
        "impact/page.html",
        "impact/_figures.html",
        event=sit.event,
        drill_banner=sit.event.is_drill,
        live_state=state,
        **ctx,
    )


@bp.get("/events/<int:event_id>/key-figures")
@allow(*READ_ROLES)
def show_key_figures(event_id: int) -> Response:
    """The key figures of the dashboard and the tablet view (refreshed when the zones change)."""
    event = event_or_404(event_id)
    return render_page(
        "events/region.html",  # without htmx: a page holding the region
        "impact/_key_figures.html",
        region="impact/_key_figures.html",
        event=event,
        drill_banner=event.is_drill,
        **key_figures_context(event, events.latest_zones(get_db(), event.id)),
    )


def basemap_urls() -> dict[str, str]:
    """The catalogue API URLs of the public basemap layers of the interactive map."""
    return {slug: url_for("catalogue.api_features", slug=slug) for slug in BASEMAP}
