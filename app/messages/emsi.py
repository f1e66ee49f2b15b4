"""EMSI (ISO/TR 22351) as profiled by the French health hub (``urn:emergency:eda:1.9:emsi``):
the message the emergency services' systems (NexSIS 18-112, SAMU) exchange about an event.

Mapping (see ``docs/decisions.md``):

- CONTEXT: MODE ``ACTUAL`` or ``EXERCS`` (drill); MSGTYPE ``ALERT`` for the first message about
  the event, ``UPDATE`` after, ``CANCEL`` once the event is closed; LEVEL ``STRTGC`` (a crisis
  cell is the strategic level); SECLASS ``RESTRC`` when restricted data entered the event (a
  grant was active, or a report is DIFFUSION RESTREINTE), ``UNCLAS`` otherwise; a LINK
  ``SPRSDS`` (supersedes) to the previous message of the event.
- EVENT/ETYPE/CATEGORY from the playbook's hazard. The schema has no ``CBRN/…`` category: a
  toxic release is ``POL/CHM`` (chemical pollution) with ENV ``DIS/CBRN``; a fire ``FIR/UKN``
  (``FIR/CLC``, gas fire, for a lit gas leak); an explosion ``EXP/…`` from its type (UVCE →
  ``EXP/GAS``, BLEVE → ``EXP/BLEVE``, dust → ``EXP/DST``, else ``EXP/UKN``); a gas leak not lit
  ``EXP/GAS`` (the danger the cell manages is the gas explosion); a Seine flood ``FLD/PLN``.
- EVENT/SCALE is the event level (1–5); STATUS ``IPR`` while open, ``COM`` once closed;
  RISK_ASSESMENT ``NCREA``/``DECREA``/``STABLE`` from the level since the previous message
  (then the flood trend parameter), ``DECREA`` at close.
- CASUALTIES from the latest ``casualty_reports`` row: dead → TRIAGEBLACK, seriously injured
  (urgences absolues) → TRIAGERED, slightly injured (urgences relatives) → TRIAGEYELLOW, people
  involved (impliqués) → TRIAGEGREEN. EVAC only when evacuation counts are recorded.
- EGEO: the site (``GEN/EVENT``, a POINT) and one per zone part (red ``GEN/HOTZ``, orange
  ``GEN/WARMZ``, yellow ``GEN/COLDZ``) as a POLYGON of LAT/LONG coordinates (EPSG-4326), its
  FREETEXT naming the communes and their INSEE codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from .cap import IDENTIFIER_PREFIX, rings
from .facts import SENDER_NAME, EventFacts, paris_offset_time

EMSI_NS = "urn:emergency:eda:1.9:emsi"
EMSI_MEDIA_TYPE = "application/xml"
ORG_ID = "fr.agglo.caux-seine"  # {pays}.{domaine}.{organisation}, as the hub's ORG_ID format
MSG_TYPES: tuple[str, ...] = ("ALERT", "UPDATE", "CANCEL")
ENV: dict[str, str] = {
    "toxic": "DIS/CBRN",
    "fire": "DIS/FIRE",
    "explosion": "DIS/INDHAZ",
    "gas-leak": "DIS/INDHAZ",
    "flood": "DIS/FLOOD",
}
EXPLOSION_TYPES: dict[str, str] = {"uvce": "EXP/GAS", "bleve": "EXP/BLEVE", "poussieres": "EXP/DST"}
EGEO_TYPES: dict[str, str] = {"red": "GEN/HOTZ", "orange": "GEN/WARMZ", "yellow": "GEN/COLDZ"}
MAX_VERTICES = 100


def categories(hazard: str, params: dict[str, Any]) -> tuple[str, ...]:
    """ETYPE/CATEGORY codes of an event of this hazard (values from the EMSI schema)."""
    if hazard == "toxic":
        return ("POL/CHM",)
    if hazard == "fire":
        return ("FIR/UKN",)
    if hazard == "explosion":
        return (EXPLOSION_TYPES.get(str(params.get("explosion_type")), "EXP/UKN"),)
    if hazard == "gas-leak":
        return ("FIR/CLC",) if params.get("leak_kind") == "enflammee" else ("EXP/GAS",)
    if hazard == "flood":
        return ("FLD/PLN",)
    return ()


def risk_assessment(facts: EventFacts, since_level: int | None = None) -> str:
    """NCREA / DECREA / STABLE: the level now against the level at the previous message (or
    before the last change); then, for a flood, its trend parameter. DECREA once closed."""
    event = facts.event
    if not event.is_open:
        return "DECREA"
    before = facts.previous_level if since_level is None else since_level
    if event.level > before:
        return "NCREA"
    if event.level < before:
        return "DECREA"
    trend = event.params.get("trend")
    if trend == "montee":
        return "NCREA"
    if trend == "decrue":
        return "DECREA"
    return "STABLE"


def event_id(facts: EventFacts) -> str:
    """EVENT/ID: the event's local id."""
    return f"{IDENTIFIER_PREFIX}-e{facts.event.id}"


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def _coord(parent: ET.Element, lon: float, lat: float) -> None:
    coord = _sub(parent, "COORD")
    _sub(coord, "LAT", f"{lat:.6f}")
    _sub(coord, "LONG", f"{lon:.6f}")


def build(
    facts: EventFacts,
    *,
    context_id: str,
    msg_type: str,
    creation: str,
    freetext: str,
    links: Sequence[str] = (),
    since_level: int | None = None,
    user_id: str | None = None,
) -> bytes:
    """The EMSI message of the event's facts, as UTF-8 XML bytes."""
    if msg_type not in MSG_TYPES:
        raise ValueError(f"unknown EMSI MSGTYPE {msg_type!r}")
    event = facts.event
    root = ET.Element("emsi", {"xmlns": EMSI_NS})
    context = _sub(root, "CONTEXT")
    _sub(context, "ID", context_id)
    _sub(context, "MODE", "EXERCS" if event.is_drill else "ACTUAL")
    _sub(context, "MSGTYPE", msg_type)
    _sub(context, "CREATION", creation)
    if links:
        link = _sub(context, "LINK")
        _sub(link, "ID", links[-1])
        _sub(link, "LINK_ROLE", "SPRSDS")
    _sub(context, "LEVEL", "STRTGC")
    _sub(context, "SECLASS", "RESTRC" if facts.restricted else "UNCLAS")
    _sub(context, "FREETEXT", ("EXERCICE — " if event.is_drill else "") + freetext)
    origin = _sub(context, "ORIGIN")
    _sub(origin, "ORG_ID", ORG_ID)
    if user_id:
        _sub(origin, "USER_ID", user_id)
    _sub(origin, "NAME", SENDER_NAME)
    if event.is_open:
        _sub(context, "URGENCY", "URGENT" if event.level >= 3 else "NOT_URGENT")

    e = _sub(root, "EVENT")
    _sub(e, "ID", event_id(facts))
    _sub(e, "NAME", ("EXERCICE — " if event.is_drill else "") + f"{event.title} — {event.place}")
    _sub(e, "MAIN_EVENT_ID", f"{ORG_ID}.{event_id(facts)}")
    codes = categories(facts.hazard, event.params)
    if codes:  # ETYPE needs a category: an unknown hazard has none
        etype = _sub(e, "ETYPE")
        for category in codes:
            _sub(etype, "CATEGORY", category)
        _sub(etype, "ACTOR", "PPL")
        _sub(etype, "LOCTYPE", "OTH")
        if facts.hazard in ENV:
            _sub(etype, "ENV", ENV[facts.hazard])
    _sub(e, "SCALE", max(1, min(5, event.level)))
    _sub(e, "DECL_DATIME", paris_offset_time(event.declared_at))
    _sub(e, "OBS_DATIME", paris_offset_time(facts.zones_computed_at or facts.now))
    _sub(e, "STATUS", "IPR" if event.is_open else "COM")
    _sub(e, "RISK_ASSESMENT", risk_assessment(facts, since_level))
    c = facts.casualties
    if c:
        cas = _sub(e, "CASUALTIES")
        _sub(cas, "CONTEXT", "BILAN")
        _sub(cas, "DATIME", paris_offset_time(c["at"]))
        for tag, key in (
            ("TRIAGERED", "seriously_injured"),
            ("TRIAGEYELLOW", "slightly_injured"),
            ("TRIAGEGREEN", "involved"),
            ("TRIAGEBLACK", "dead"),
        ):
            if c.get(key) is not None:
                _sub(cas, tag, int(c[key]))
    if facts.evacuated is not None or facts.displaced is not None:
        evac = _sub(e, "EVAC")
        _sub(evac, "DATIME", paris_offset_time(facts.now))
        if facts.displaced is not None:
            _sub(evac, "DISPLACED", facts.displaced)
        if facts.evacuated is not None:
            _sub(evac, "EVACUATED", facts.evacuated)
    site = _sub(e, "EGEO")
    _sub(site, "DATIME", paris_offset_time(event.declared_at))
    _sub(site, "TYPE", "GEN/EVENT")
    wind = event.params.get("wind_from_deg")
    if wind is not None:
        _sub(site, "WEATHER", "WIN")
        speed = event.params.get("wind_speed_ms")
        _sub(
            site,
            "FREETEXT",
            f"Vent venant du {wind:g}°" + (f", {speed:g} m/s" if speed is not None else ""),
        )
    position = _sub(site, "POSITION")
    _sub(position, "LOC_ID", event.site_fid or f"{event_id(facts)}-lieu")
    _sub(position, "NAME", event.place)
    _sub(position, "TYPE", "POINT")
    _sub(position, "COORDSYS", "EPSG-4326")
    _coord(position, event.lon, event.lat)
    _sub(position, "ADDRESS", event.place)
    for zone in facts.zones:
        parts = rings(zone.geometry, MAX_VERTICES)
        for k, ring in enumerate(parts, start=1):
            egeo = _sub(e, "EGEO")
            _sub(egeo, "DATIME", paris_offset_time(facts.zones_computed_at or facts.now))
            _sub(egeo, "TYPE", EGEO_TYPES.get(zone.level, "GEN/SPRISK"))
            communes = ", ".join(f"{c.name} ({c.insee})" for c in zone.communes)
            _sub(
                egeo,
                "FREETEXT",
                f"{zone.label} — seuil {zone.threshold}"
                + (f" — communes (INSEE) : {communes}" if communes else ""),
            )
            pos = _sub(egeo, "POSITION")
            suffix = f"-{k}" if len(parts) > 1 else ""
            _sub(pos, "LOC_ID", f"{event_id(facts)}-{zone.id}{suffix}")
            _sub(pos, "NAME", zone.label + (f" (partie {k}/{len(parts)})" if suffix else ""))
            _sub(pos, "TYPE", "POLYGON")
            _sub(pos, "COORDSYS", "EPSG-4326")
            for lon, lat in ring:
                _coord(pos, lon, lat)
    _sub(e, "CAUSE", "NAT" if facts.hazard == "flood" else "ACC")
    _sub(e, "FREETEXT", f"{facts.playbook_title} — niveau {event.level}")
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "utf-8") + b"\n"
