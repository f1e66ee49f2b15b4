"""CAP 1.2 (OASIS Common Alerting Protocol): THE builder of the console's alerts, and the Atom
feed (RFC 4287) of the alerts issued.

- One ``area`` per zone, with one ``polygon`` per part of the zone: a whitespace-separated list of
  ``lat,lon`` pairs (WGS84, latitude first as CAP 1.2 §3.2.4 says), closed (first pair = last
  pair), at least four pairs, the exterior ring counter-clockwise (holes dropped: an alert area
  may cover more, never less). Rings are simplified to at most :data:`MAX_VERTICES` points so
  that cell-broadcast centres accept them. The communes the zone touches are ``geocode``\\ s
  with ``valueName`` ``INSEE``.
- ``references`` lists ``sender,identifier,sent`` of every earlier message of the chain, oldest
  first; the last one is the message this one updates or cancels.
- The French cell-broadcast text (FR-Alert) is the ``parameter`` named :data:`CBS_PARAMETER`
  (there is no published CAP profile for FR-Alert; the prefecture's operator maps it).

XML is written with ElementTree, the namespace as the root's default (no global registration).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"
SENDER = "crisis-console@caux-seine.example"
TAG_AUTHORITY = "caux-seine.example"
IDENTIFIER_PREFIX = "caux-seine-crise"
CBS_PARAMETER = "FR-Alert:texte"
# Where the zones' distances come from ("génériques du guide" when a site published none).
DISTANCES_PARAMETER = "caux-seine:distances"
FEED_PATH = "/cap/feed.atom"
EXERCISE_FEED_PATH = "/cap/exercise.atom"
ATOM_MEDIA_TYPE = "application/atom+xml"
MAX_VERTICES = 100
DRILL_NOTE = "EXERCICE — message d'exercice, aucune action réelle"
DRILL_RESTRICTION = "EXERCICE — diffusion limitée aux participants de l'exercice"

CATEGORIES: dict[str, tuple[str, ...]] = {
    "toxic": ("CBRNE",),
    "fire": ("Fire",),
    "explosion": ("CBRNE",),
    "gas-leak": ("Safety", "Infra"),
    "flood": ("Met",),
}


def severity(level: int) -> str:
    """CAP severity of an event level (1–5)."""
    if level >= 4:
        return "Extreme"
    if level == 3:
        return "Severe"
    if level == 2:
        return "Moderate"
    return "Minor"


def reference(sender: str, identifier: str, sent: str) -> str:
    """A CAP reference triplet."""
    return f"{sender},{identifier},{sent}"


def alert_path(identifier: str) -> str:
    """The stable path of an issued alert (served by the web layer)."""
    return f"/cap/alerts/{identifier}.xml"


def _fmt(value: float) -> str:
    text = f"{value:.5f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def ring_text(coords: Sequence[tuple[float, float]]) -> str | None:
    """``lat,lon`` pairs of a closed lon/lat ring, or None when fewer than 4 pairs remain."""
    pairs: list[str] = []
    for lon, lat in coords:
        pair = f"{_fmt(lat)},{_fmt(lon)}"
        if not pairs or pairs[-1] != pair:
            pairs.append(pair)
    if len(pairs) >= 2 and pairs[0] != pairs[-1]:
        pairs.append(pairs[0])
    if len(pairs) < 4:
        return None
    return " ".join(pairs)


def rings(
    geometry: dict[str, Any], max_vertices: int = MAX_VERTICES
) -> list[list[tuple[float, float]]]:
    """The exterior rings (lon, lat), counter-clockwise, of a GeoJSON Polygon or MultiPolygon,
    each simplified to at most ``max_vertices`` points."""
    from shapely.geometry import Polygon, shape
    from shapely.geometry.polygon import orient

    geom = shape(geometry)
    if geom.is_empty:
        return []
    parts = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
    out = []
    for part in parts:
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        shell = orient(Polygon(part.exterior.coords), 1.0)
        tolerance = 0.00005
        while len(shell.exterior.coords) > max_vertices:
            shell = orient(Polygon(part.exterior.coords).simplify(tolerance), 1.0)
            tolerance *= 2
        out.append([(float(x), float(y)) for x, y in shell.exterior.coords])
    return out


def polygons(geometry: dict[str, Any], max_vertices: int = MAX_VERTICES) -> list[str]:
    """CAP polygons of a GeoJSON (WGS84) Polygon or MultiPolygon: one per part."""
    out = []
    for ring in rings(geometry, max_vertices):
        text = ring_text(ring)
        if text:
            out.append(text)
    return out


@dataclass(frozen=True)
class Area:
    desc: str
    polygons: tuple[str, ...] = ()
    circles: tuple[str, ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()  # (valueName, value)


@dataclass(frozen=True)
class Alert:
    """One CAP 1.2 alert with one ``info`` block (fr-FR)."""

    identifier: str
    sender: str
    sent: str  # with its offset, e.g. 2026-11-23T14:00:00+01:00
    status: str  # Actual | Exercise
    msg_type: str  # Alert | Update | Cancel
    scope: str  # Public | Restricted
    categories: tuple[str, ...]
    event: str
    responses: tuple[str, ...]
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    instruction: str
    sender_name: str
    restriction: str | None = None
    note: str | None = None
    references: tuple[str, ...] = ()
    incidents: str | None = None
    event_codes: tuple[tuple[str, str], ...] = ()
    effective: str | None = None
    expires: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    areas: tuple[Area, ...] = field(default_factory=tuple)
    language: str = "fr-FR"

    def reference(self) -> str:
        return reference(self.sender, self.identifier, self.sent)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _pair(parent: ET.Element, tag: str, name: str, value: str) -> None:
    element = _sub(parent, tag)
    _sub(element, "valueName", name)
    _sub(element, "value", value)


def to_xml(alert: Alert) -> bytes:
    """The alert as CAP 1.2 XML bytes (UTF-8, elements in the schema's order)."""
    root = ET.Element("alert", {"xmlns": CAP_NS})
    _sub(root, "identifier", alert.identifier)
    _sub(root, "sender", alert.sender)
    _sub(root, "sent", alert.sent)
    _sub(root, "status", alert.status)
    _sub(root, "msgType", alert.msg_type)
    _sub(root, "scope", alert.scope)
    if alert.restriction:
        _sub(root, "restriction", alert.restriction)
    if alert.note:
        _sub(root, "note", alert.note)
    if alert.references:
        _sub(root, "references", " ".join(alert.references))
    if alert.incidents:
        _sub(root, "incidents", alert.incidents)
    info = _sub(root, "info")
    _sub(info, "language", alert.language)
    for category in alert.categories:
        _sub(info, "category", category)
    _sub(info, "event", alert.event)
    for response in alert.responses:
        _sub(info, "responseType", response)
    _sub(info, "urgency", alert.urgency)
    _sub(info, "severity", alert.severity)
    _sub(info, "certainty", alert.certainty)
    for name, value in alert.event_codes:
        _pair(info, "eventCode", name, value)
    if alert.effective:
        _sub(info, "effective", alert.effective)
    if alert.expires:
        _sub(info, "expires", alert.expires)
    _sub(info, "senderName", alert.sender_name)
    _sub(info, "headline", alert.headline)
    _sub(info, "description", alert.description)
    if alert.instruction:
        _sub(info, "instruction", alert.instruction)
    for name, value in alert.parameters:
        _pair(info, "parameter", name, value)
    for area in alert.areas:
        a = _sub(info, "area")
        _sub(a, "areaDesc", area.desc)
        for polygon in area.polygons:
            _sub(a, "polygon", polygon)
        for circle in area.circles:
            _sub(a, "circle", circle)
        for name, value in area.geocodes:
            _pair(a, "geocode", name, value)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "utf-8") + b"\n"


# --- the Atom feed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One issued alert in the feed."""

    identifier: str
    sent: str
    msg_type: str
    status: str
    headline: str
    summary: str


def _tag_uri(identifier: str, sent: str) -> str:
    return f"tag:{TAG_AUTHORITY},{sent[:4]}:{identifier}"


def atom_feed(
    entries: Iterable[FeedEntry],
    *,
    updated: str,
    base_url: str,
    feed_path: str = FEED_PATH,
    title: str = "Alertes CAP — Caux Seine Agglomération",
    feed_id: str = "cap-feed",
) -> bytes:
    """An Atom 1.0 feed (RFC 4287) of issued alerts, newest first; each entry links to the
    alert's stable URL (``base_url`` + :func:`alert_path`)."""
    base = base_url.rstrip("/")
    items = list(entries)
    root = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "fr"})
    _sub(root, "id", f"tag:{TAG_AUTHORITY},2026:{feed_id}")
    _sub(root, "title", title)
    _sub(root, "updated", max([updated, *(e.sent for e in items)]) if items else updated)
    author = _sub(root, "author")
    _sub(author, "name", "Caux Seine Agglomération — cellule de crise")
    _sub(author, "email", SENDER)
    _sub(root, "link", None).attrib.update({"rel": "self", "href": base + feed_path})
    _sub(root, "generator", "Console de crise")
    for e in items:
        entry = _sub(root, "entry")
        _sub(entry, "id", _tag_uri(e.identifier, e.sent))
        mark = "EXERCICE — " if e.status == "Exercise" and "EXERCICE" not in e.headline else ""
        _sub(entry, "title", f"{mark}{e.headline}")
        _sub(entry, "updated", e.sent)
        _sub(entry, "published", e.sent)
        link = _sub(entry, "link")
        link.attrib.update(
            {"rel": "alternate", "type": CAP_MEDIA_TYPE, "href": base + alert_path(e.identifier)}
        )
        _sub(entry, "category").attrib.update({"term": e.msg_type, "label": e.msg_type})
        _sub(entry, "category").attrib.update({"term": e.status, "label": e.status})
        _sub(entry, "summary", e.summary)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "utf-8") + b"\n"
