"""The CAP 1.2 export of a drill event's alert (an ``<alert>`` document with its zones)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

import sqlite_utils

from .. import events
from ..clock import parse_iso
from ..playbooks import Playbook
from .play import DrillError

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_SENDER = "crisis-console@caux-seine.example"
CAP_CATEGORIES: dict[str, str] = {
    "toxic": "CBRNE",
    "fire": "Fire",
    "explosion": "Safety",
    "flood": "Met",
    "gas-leak": "Infra",
}
CAP_RESPONSES: dict[str, str] = {
    "toxic": "Shelter",
    "fire": "Avoid",
    "explosion": "Avoid",
    "flood": "Prepare",
    "gas-leak": "Evacuate",
}


def _cap_time(stamp: datetime) -> str:
    # CAP forbids "Z": the offset is written out.
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _cap_polygon(geometry: dict[str, Any]) -> str | None:
    from shapely.geometry import shape

    geom = shape(geometry)
    if geom.is_empty:
        return None
    if geom.geom_type == "MultiPolygon":
        geom = max(geom.geoms, key=lambda g: g.area)
    if geom.geom_type != "Polygon":
        return None
    ring = geom.simplify(0.0002, preserve_topology=True).exterior
    coords = list(ring.coords)
    if len(coords) < 4:
        return None
    return " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in coords)


def cap_alert(
    db: sqlite_utils.Database,
    event_id: int,
    now: datetime | None,
    playbooks: Mapping[str, Playbook],
) -> str:
    """The event's alert as CAP 1.2 XML: status ``Exercise`` for a drill, ``Actual`` otherwise."""
    event = events.get_event(db, event_id)
    if event is None:
        raise DrillError("Événement introuvable.", 404)
    playbook = playbooks.get(event.kind)
    hazard = playbook.hazard if playbook else ""
    zones = events.latest_zones(db, event_id)
    sent = now or parse_iso(zones["computed_at"] if zones else event.declared_at)
    version = zones["version"] if zones else 0
    ET.register_namespace("", CAP_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        if text is not None:
            element.text = text
        return element

    alert = ET.Element(f"{{{CAP_NS}}}alert")
    sub(alert, "identifier", f"caux-seine-crisis-event-{event.id}-v{version}")
    sub(alert, "sender", CAP_SENDER)
    sub(alert, "sent", _cap_time(sent))
    sub(alert, "status", "Exercise" if event.is_drill else "Actual")
    sub(alert, "msgType", "Alert" if event.is_open else "Cancel")
    sub(alert, "scope", "Restricted")
    sub(alert, "restriction", "Cellule de crise et services partenaires")
    if event.is_drill:
        sub(alert, "note", "EXERCICE — message d'exercice, aucune action réelle")
    info = sub(alert, "info")
    sub(info, "language", "fr-FR")
    sub(info, "category", CAP_CATEGORIES.get(hazard, "Other"))
    sub(info, "event", playbook.title if playbook else event.kind)
    sub(info, "responseType", CAP_RESPONSES.get(hazard, "Monitor"))
    sub(info, "urgency", "Immediate")
    sub(
        info,
        "severity",
        "Extreme" if event.level >= 4 else "Severe" if event.level == 3 else "Moderate",
    )
    sub(info, "certainty", "Observed")
    sub(info, "senderName", "Console de crise — Caux Seine Agglomération")
    headline = (
        "EXERCICE — " if event.is_drill and not event.title.startswith("EXERCICE") else ""
    ) + event.title
    sub(info, "headline", headline[:160])
    described = "; ".join(f"{k} : {v}" for k, v in events.describe_params(playbook, event.params))
    sub(info, "description", f"{event.place}. Niveau {event.level}. {described}".strip())
    if playbook and playbook.description:
        sub(info, "instruction", playbook.description)
    features = (zones or {}).get("geojson", {}).get("features", []) if zones else []
    if not features:
        area = sub(info, "area")
        sub(area, "areaDesc", event.place or event.title)
        sub(area, "circle", f"{event.lat:.5f},{event.lon:.5f} 0.5")
    for feature in features:
        polygon = _cap_polygon(feature["geometry"])
        if polygon is None:
            continue
        props = feature.get("properties") or {}
        area = sub(info, "area")
        sub(area, "areaDesc", f"{props.get('label', 'Zone')} — {event.place}")
        sub(area, "polygon", polygon)
    ET.indent(alert)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(alert, encoding="unicode") + "\n"
    )
