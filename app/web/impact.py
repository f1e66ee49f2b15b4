"""An event's zones, impact figures and map: JSON API, SVG, printable extract, htmx fragment.

Everything here reads through ``app.situation`` (one analysis, one map for screen, API and
reports) and the application's shared spatial index (``geoindex.get_index``). Restricted and
personal layers are counts only unless the user holds a valid grant: then the features are read
through ``app.access.read_features`` (scope, field whitelist and access record) and drawn marked
DIFFUSION RESTREINTE.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, make_response, request, url_for

from .. import access, events, situation
from ..clock import local
from ..geo import render
from ..geo.impact import Impact, zone_caveats
from ..pcs import centres
from ..records import Zones
from .access import request_id
from .basemaps import library as basemap_library
from .context import event_or_404, get_db, now, require_user
from .errors import fail
from .geoindex import get_index
from .htmx import render as render_page
from .offline import unrestricted_view
from .security import allow

bp = Blueprint("impact", __name__)

READ_ROLES = events.READ_ROLES  # the same rule as the event pages
SVG_SIZE = (960.0, 640.0)  # points; the SVG scales with CSS
# An SVG shown through <img> or opened alone: no script, its inline style attributes only.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
SORTS = ("distance", "name", "type", "capacity")
BASEMAP = ("territory", "communes", "seine", "roads")
# Item keys the analysis adds itself (not dataset properties): kept for opened datasets.
_COMPUTED_KEYS = frozenset({"id", "dataset", "distance_m", "length_m", "area_m2"})


# -- helpers ---------------------------------------------------------------------------------


def _grants(
    event: events.Event, zones: Zones | None, purpose: str
) -> dict[str, tuple[list[dict[str, Any]], Any]]:
    """Restricted/personal datasets the user's grants open now: slug -> (features, grant).

    Each read goes through ``access.read_features`` (scope, fields, access record); a dataset
    without a valid grant is simply absent (counts only), no denial is recorded for it.
    """
    db, t, user = get_db(), now(), require_user()
    opened: dict[str, tuple[list[dict[str, Any]], Any]] = {}
    if unrestricted_view():  # the copy a tablet may keep offline: counts only
        return opened
    for spec in situation.layer_specs(db):
        if spec.sensitivity == "public" or not access.has_valid_grant(
            db, t, user, event.id, spec.slug
        ):
            continue
        try:
            opened[spec.slug] = access.read_features(
                db, t, user, event.id, spec.slug, purpose, request_id(), event=event, zones=zones
            )
        except access.AccessError:
            continue
    return opened


def _redact(data: dict[str, Any], grants: dict[str, tuple[list[dict[str, Any]], Any]]) -> None:
    """Keep only the grant's whitelisted fields in the items of opened datasets (in place)."""
    fields = {slug: set(getattr(g, "fields", ()) or ()) for slug, (_, g) in grants.items()}

    def clean(slug: str, items: list[dict[str, Any]]) -> None:
        if slug not in fields:
            return
        allowed = fields[slug] | _COMPUTED_KEYS
        for item in items:
            for key in [k for k in item if k not in allowed]:
                del item[key]

    for zone in [*data["zones"], data["outer"]]:
        by_dataset: dict[str, list[dict[str, Any]]] = {}
        for item in zone["establishments"]["items"]:
            by_dataset.setdefault(item.get("dataset", ""), []).append(item)
        for slug, items in by_dataset.items():
            clean(slug, items)
        for group in (*zone["networks"], *zone["other"]):
            clean(group["dataset"], group.get("items", []))


def _grant_url(event_id: int, slug: str) -> str:
    return url_for("access.new_grant", event_id=event_id, dataset=slug)


def _zones(event: events.Event) -> Zones | None:
    """The event's current zones, read once by each view and passed down."""
    return events.latest_zones(get_db(), event.id)


def _analysis(
    event: events.Event, zones: Zones | None, purpose: str
) -> tuple[Impact, dict[str, Any], dict[str, tuple[list[dict[str, Any]], Any]]]:
    grants = _grants(event, zones, purpose)
    impact = situation.event_impact(get_db(), get_index(), event, zones, frozenset(grants))
    data = impact.to_json()
    _redact(data, grants)
    for zone in [*data["zones"], data["outer"]]:
        for entry in zone["restricted"]:
            entry["request_access"] = _grant_url(event.id, entry["dataset"])
    for entry in data["closure_restricted"]:
        entry["request_access"] = _grant_url(event.id, entry["dataset"])
    return impact, data, grants


def _time_label() -> str:
    return local(now(), "%d/%m/%Y %H:%M")


def _map_spec(event: events.Event, purpose: str) -> render.MapSpec:
    zones = _zones(event)
    impact, _, grants = _analysis(event, zones, purpose)
    open_layers = {slug: feats for slug, (feats, _) in grants.items()}
    return situation.event_map_spec(
        get_db(),
        get_index(),
        event,
        zones,
        open_layers=open_layers,
        impact=impact,
        time_label=_time_label(),
        basemap=basemap_library().default,  # the territory's raster basemap, if it has one
    )


def caveats(data: dict[str, Any]) -> list[tuple[dict[str, Any], list[str]]]:
    """(zone, French caveats) of each zone whose figures have limits (``zone_caveats``): a
    generic distance, a part outside the data's coverage; the outer zone when it adds one."""
    out = [(z, zone_caveats(z)) for z in data["zones"]]
    seen = {tuple(c) for _, c in out}
    outer = zone_caveats(data["outer"])
    if len(data["zones"]) > 1 and outer and tuple(outer) not in seen:
        out.append((data["outer"], outer))
    return [(z, c) for z, c in out if c]


def _figures_context(
    event: events.Event, latest: Zones | None, zone: str | None, sort: str | None
) -> dict[str, Any]:
    _, data, grants = _analysis(event, latest, "view")
    zones = {z["id"]: z for z in data["zones"]}
    selected = zone if zone in zones or zone == "outer" else "outer"
    detail = data["outer"] if selected == "outer" else zones[selected]
    sort = sort if sort in SORTS else "distance"
    items = list(detail["establishments"]["items"])
    if sort == "name":
        items.sort(key=lambda r: (str(r.get("name") or ""), r["distance_m"]))
    elif sort == "type":
        items.sort(key=lambda r: (str(r.get("type") or ""), r["distance_m"]))
    elif sort == "capacity":
        items.sort(key=lambda r: (-(r.get("capacity") or 0), r["distance_m"]))
    return {
        "impact_caveats": caveats(data),
        "impact": data,
        "impact_zone": selected,
        "impact_detail": detail,
        "impact_items": items,
        "impact_sort": sort,
        "impact_opened": sorted(grants),
        "impact_zones_version": latest["version"] if latest else None,
        "impact_zones_at": latest["computed_at"] if latest else None,
        "establishment_noun": situation.establishment_noun,
    }


# -- JSON API --------------------------------------------------------------------------------


@bp.get("/api/v1/events/<int:event_id>/zones")
@allow(*READ_ROLES)
def zones_api(event_id: int) -> Response:
    """The event's current zones: GeoJSON FeatureCollection in WGS84."""
    event = event_or_404(event_id)
    response = jsonify(situation.zones_collection(event, _zones(event)))
    response.mimetype = "application/geo+json"
    return response


@bp.get("/api/v1/events/<int:event_id>/impact")
@allow(*READ_ROLES)
def impact_api(event_id: int) -> Response:
    """Per zone: population, establishments, networks, closure points, restricted counts."""
    event = event_or_404(event_id)
    latest = _zones(event)
    _, data, _ = _analysis(event, latest, "api")
    data["event"] = event.id
    data["drill"] = event.is_drill
    data["zones_version"] = latest["version"] if latest else None
    return jsonify(data)


@bp.get("/api/v1/events/<int:event_id>/map-features")
@allow(*READ_ROLES)
def map_features_api(event_id: int) -> Response:
    """Points for the interactive map: closure points and public establishments near the zones.

    Restricted and personal layers come as counts (``restricted``) with the link to request
    access; those the user holds a valid grant for come in ``opened``, read through
    ``access.read_features`` (zone scope, field whitelist, an access record per read).
    """
    event = event_or_404(event_id)
    zones = _zones(event)
    impact, data, grants = _analysis(event, zones, "map")
    collection = situation.event_map_features(get_db(), get_index(), event, zones, impact)
    opened = set(grants)
    collection["restricted"] = [
        r for r in data["outer"]["restricted"] if r["dataset"] not in opened
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
        for slug, (features, grant) in sorted(grants.items())
    ]
    # Open reception centres with their places left (public facts, app.pcs.centres).
    collection["features"].extend(c.feature() for c in centres.open_centres(get_db(), event.id))
    response = jsonify(collection)
    response.mimetype = "application/geo+json"
    return response


# -- map: SVG and printable extract ----------------------------------------------------------


@bp.get("/events/<int:event_id>/map.svg")
@allow(*READ_ROLES)
def map_svg(event_id: int) -> Response:
    """The event's map as a standalone SVG (the same drawing as the printable extract)."""
    spec = _map_spec(event_or_404(event_id), "map")
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
    spec = _map_spec(event, "export")
    pdf = render.map_extract_pdf(spec, paper, _time_label())
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
    event = event_or_404(event_id)
    ctx = _figures_context(event, _zones(event), request.args.get("zone"), request.args.get("sort"))
    return render_page(
        "impact/page.html",
        "impact/_figures.html",
        event=event,
        drill_banner=event.is_drill,
        **ctx,
    )


def basemap_urls() -> dict[str, str]:
    """The catalogue API URLs of the public basemap layers of the interactive map."""
    return {slug: url_for("catalogue.api_features", slug=slug) for slug in BASEMAP}
