"""The records the domain passes around (``Event``, ``Dataset``, ``Grant``, ``Agreement``,
``Zones``) and the one mapper from a database row to each.

A low module: ``access``, ``events``, ``catalogue``, ``situation`` and ``reports`` import it, it
imports none of them, so no module reads a row as a dict to dodge an import cycle. Load a record
once and pass it down (docs/architecture.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

import sqlite_utils

from .catalogue_file import FieldMap
from .clock import iso, parse_iso
from .db import row

# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One event (real or drill) as stored."""

    id: int
    kind: str
    title: str
    is_drill: bool
    level: int
    status: str
    declared_by: int
    declared_by_name: str
    declared_at: str
    closed_by: int | None
    closed_at: str | None
    closing_statement: str | None
    site_fid: str | None
    lon: float
    lat: float
    place: str
    params: dict[str, Any]
    report_cadence_min: int
    # The director's written synthesis (situation, measures taken, next steps): the current
    # text; every version is a main-courante entry (``events.set_synthesis``).
    synthesis: str = ""
    synthesis_at: str | None = None
    synthesis_by_name: str = ""

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def to_dict(self) -> dict[str, Any]:
        """The event as the JSON API shows it."""
        return {
            "id": self.id,
            "playbook": self.kind,
            "title": self.title,
            "drill": self.is_drill,
            "level": self.level,
            "status": self.status,
            "declared_by": self.declared_by_name,
            "declared_at": self.declared_at,
            "closed_at": self.closed_at,
            "closing_statement": self.closing_statement,
            "site": self.site_fid,
            "point": [self.lon, self.lat],
            "place": self.place,
            "params": self.params,
            "report_cadence_min": self.report_cadence_min,
            "synthesis": {
                "text": self.synthesis,
                "at": self.synthesis_at,
                "by": self.synthesis_by_name or None,
            },
        }


EVENT_SQL = (
    "SELECT e.*, COALESCE(u.name, '') AS declared_by_name,"
    " COALESCE(s.name, '') AS synthesis_by_name FROM events e"
    " LEFT JOIN users u ON u.id = e.declared_by LEFT JOIN users s ON s.id = e.synthesis_by"
)


def event_from_row(r: dict[str, Any]) -> Event:
    return Event(
        id=r["id"],
        kind=r["kind"],
        title=r["title"],
        is_drill=bool(r["is_drill"]),
        level=r["level"],
        status=r["status"],
        declared_by=r["declared_by"],
        declared_by_name=r["declared_by_name"],
        declared_at=r["declared_at"],
        closed_by=r["closed_by"],
        closed_at=r["closed_at"],
        closing_statement=r["closing_statement"],
        site_fid=r["site_fid"],
        lon=r["lon"],
        lat=r["lat"],
        place=r["place"],
        params=json.loads(r["params"] or "{}"),
        report_cadence_min=r["report_cadence_min"],
        synthesis=r.get("synthesis") or "",
        synthesis_at=r.get("synthesis_at"),
        synthesis_by_name=r.get("synthesis_by_name") or "",
    )


def get_event(db: sqlite_utils.Database, event_id: int) -> Event | None:
    """An event by id, or None."""
    r = row(db, EVENT_SQL + " WHERE e.id = ?", [event_id])
    return event_from_row(r) if r else None


def insert_log_entry(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    author_id: int | None,
    author_name: str,
    category: str,
    text: str,
    *,
    fact_at: datetime | None = None,
    corrects_id: int | None = None,
    is_system: bool = False,
    is_inject: bool = False,
) -> int:
    """Append one main-courante row (the table refuses UPDATE and DELETE); the caller's unit of
    work holds the transaction and the audit record. Low here so that every domain module
    that decides something on an event (events, access, drills) writes it the same way."""
    cur = db.execute(
        "INSERT INTO log_entries (event_id, fact_at, recorded_at, author_id, author_name,"
        " category, text, corrects_id, is_inject, is_system) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            event_id,
            iso(fact_at or now),
            iso(now),
            author_id,
            author_name,
            category,
            text,
            corrects_id,
            int(is_inject),
            int(is_system),
        ],
    )
    return int(cur.lastrowid or 0)


class Zones(TypedDict):
    """An event's zones as stored (one version): also the JSON API's ``zones`` member."""

    version: int
    computed_at: str
    params: dict[str, Any]
    geojson: dict[str, Any]


def latest_zones(db: sqlite_utils.Database, event_id: int) -> Zones | None:
    """The event's current zones (the latest version), or None."""
    r = row(
        db,
        "SELECT * FROM event_zones WHERE event_id = ? ORDER BY version DESC LIMIT 1",
        [event_id],
    )
    if r is None:
        return None
    return Zones(
        version=r["version"],
        computed_at=r["computed_at"],
        params=json.loads(r["params"]),
        geojson=json.loads(r["geojson"]),
    )


# --- datasets -----------------------------------------------------------------------------------

THEMES: dict[str, str] = {
    "industrial": "Industriel",
    "network": "Réseaux",
    "population": "Population",
    "reference": "Référence",
}
SENSITIVITIES: dict[str, str] = {
    "public": "Public",
    "restricted": "Restreint",
    "personal": "Données personnelles",
}


@dataclass(frozen=True)
class Field:
    """One property of a dataset's features."""

    name: str
    type: str = "str"
    required: bool = False
    label: str = ""
    values: tuple[Any, ...] | None = None
    unit: str | None = None

    @property
    def shown_label(self) -> str:
        """The French label (the property's name when the schema gives none)."""
        return self.label or self.name

    @property
    def is_phone(self) -> bool:
        """A telephone number (``phone``, ``emergency_phone``, « Téléphone … »): shown grouped
        and dialable (``tel:``)."""
        return self.name.endswith("phone") or "téléphone" in self.label.lower()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "label": self.label or self.name,
        }
        if self.values is not None:
            out["values"] = list(self.values)
        if self.unit is not None:
            out["unit"] = self.unit
        return out


@dataclass(frozen=True)
class Dataset:
    """A layer of features owned by an organisation."""

    id: int
    slug: str
    title: str
    description: str
    owner_org_id: int
    owner_slug: str
    owner_name: str
    theme: str
    geometry_type: str
    sensitivity: str
    id_field: str
    fields: tuple[Field, ...]
    source: str
    revision: int
    feature_count: int
    bbox: tuple[float, float, float, float] | None
    created_at: str
    updated_at: str
    extra: dict[str, Any] = field(default_factory=dict)
    # The owner's fields mapped onto ours (catalogue.yaml `mapping:`), applied at every import.
    mapping: tuple[FieldMap, ...] = ()
    # Where the dataset is complete: "territory" or a GeoJSON (Multi)Polygon in WGS84.
    coverage: str | dict[str, Any] = "territory"

    @property
    def is_public(self) -> bool:
        return self.sensitivity == "public"

    @property
    def theme_label(self) -> str:
        return THEMES.get(self.theme, self.theme)

    @property
    def sensitivity_label(self) -> str:
        return SENSITIVITIES.get(self.sensitivity, self.sensitivity)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def as_json(self) -> dict[str, Any]:
        """The dataset's metadata, as the API shows it (never features)."""
        return {
            "slug": self.slug,
            "title": self.title,
            "description": self.description,
            "owner": {"slug": self.owner_slug, "name": self.owner_name},
            "theme": self.theme,
            "geometry_type": self.geometry_type,
            "sensitivity": self.sensitivity,
            "id_field": self.id_field,
            "fields": [f.as_dict() for f in self.fields],
            "mapping": [m.model_dump(exclude_none=True) for m in self.mapping],
            "source": self.source,
            "revision": self.revision,
            "feature_count": self.feature_count,
            "bbox": list(self.bbox) if self.bbox else None,
            "coverage": self.coverage,
            "updated_at": self.updated_at,
        }


def _fields(raw: str | None) -> tuple[Field, ...]:
    """A stored property schema (validated when it was written: ``catalogue.parse_fields``)."""
    out = []
    for f in json.loads(raw or "[]"):
        if isinstance(f, str):
            out.append(Field(name=f))
        elif isinstance(f, dict) and f.get("name"):
            values = f.get("values")
            out.append(
                Field(
                    name=str(f["name"]),
                    type=f.get("type", "str"),
                    required=bool(f.get("required", False)),
                    label=str(f.get("label") or f["name"]),
                    values=tuple(values) if values is not None else None,
                    unit=f.get("unit"),
                )
            )
    return tuple(out)


DATASET_SQL = """
SELECT d.*, o.slug AS owner_slug, o.name AS owner_name
FROM datasets d JOIN organisations o ON o.id = d.owner_org_id
"""


def dataset_from_row(r: dict[str, Any]) -> Dataset:
    bbox = json.loads(r["bbox"]) if r["bbox"] else None
    return Dataset(
        id=r["id"],
        slug=r["slug"],
        title=r["title"],
        description=r["description"],
        owner_org_id=r["owner_org_id"],
        owner_slug=r["owner_slug"],
        owner_name=r["owner_name"],
        theme=r["theme"],
        geometry_type=r["geometry_type"],
        sensitivity=r["sensitivity"],
        id_field=r["id_field"],
        fields=_fields(r["fields"]),
        source=r["source"],
        revision=r["revision"],
        feature_count=r["feature_count"],
        bbox=tuple(bbox) if bbox else None,
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        mapping=tuple(FieldMap.model_validate(m) for m in json.loads(r.get("mapping") or "[]")),
        coverage=_coverage(r.get("coverage")),
    )


def _coverage(value: Any) -> str | dict[str, Any]:
    if not value or value == "territory":
        return "territory"
    try:
        found = json.loads(value)
    except ValueError:
        return "territory"
    return found if isinstance(found, dict) else "territory"


def get_dataset(db: sqlite_utils.Database, slug: str) -> Dataset | None:
    """The dataset ``slug``, or None."""
    r = row(db, DATASET_SQL + " WHERE d.slug = ?", [slug])
    return dataset_from_row(r) if r else None


# --- agreements and grants -----------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """One version of a convention de pré-autorisation."""

    id: int
    key: str
    version: int
    dataset_id: int
    dataset_slug: str
    dataset_title: str
    sensitivity: str
    owner_org_id: int
    roles: tuple[str, ...]
    event_kinds: tuple[str, ...]
    drills_allowed: bool
    max_duration_min: int
    approval: str
    scope: str
    margin_m: float
    fields: tuple[str, ...]
    valid_from: str
    valid_to: str | None
    signed_by: int
    signed_by_name: str
    signed_at: str
    status: str
    withdrawn_at: str | None
    review_at: str | None = None  # the review date: past it, « à renouveler »
    on_lapse: str = "continue"  # past the review date: "continue" or "stop" opening grants

    def covers_kind(self, kind: str) -> bool:
        return "*" in self.event_kinds or kind in self.event_kinds

    def in_force(self, now: datetime) -> bool:
        """Active, and ``now`` within its validity dates."""
        return (
            self.status == "active"
            and parse_iso(self.valid_from) <= now
            and (self.valid_to is None or parse_iso(self.valid_to) > now)
        )

    def lapsed(self, now: datetime) -> bool:
        """Past its review date without a new version (« à renouveler »)."""
        return self.review_at is not None and parse_iso(self.review_at) <= now


@dataclass(frozen=True)
class Grant:
    """A break-glass grant (bris de glace)."""

    id: int
    event_id: int
    event_title: str
    event_status: str
    is_drill: bool
    user_id: int
    user_login: str
    user_name: str
    dataset_id: int
    dataset_slug: str
    dataset_title: str
    sensitivity: str
    owner_org_id: int
    agreement_id: int
    agreement_key: str
    agreement_version: int
    reason_code: str
    justification: str
    duration_min: int
    requested_at: str
    status: str
    pending_until: str | None
    decided_by: int | None
    decided_by_name: str | None
    decided_at: str | None
    activated_at: str | None
    expires_at: str | None
    ended_at: str | None
    ended_by_name: str | None
    end_reason: str | None
    flagged_for_review: bool
    agreement_withdrawn: bool
    # Set on the object returned by request/approve: the expiry was cut below the duration asked.
    clamped: bool = False
    clamp_reason: str = ""
    fields: tuple[str, ...] = field(default_factory=tuple)
    max_duration_min: int | None = None  # the agreement's maximum (the clamp)

    def valid_at(self, now: datetime) -> bool:
        """The one validity test used at every read."""
        return (
            self.status == "active"
            and self.expires_at is not None
            and parse_iso(self.expires_at) > now
            and self.event_status == "open"
            and not self.agreement_withdrawn
        )

    def effective_status(self, now: datetime) -> str:
        """The status as it is right now, even if no sweep has run yet: what every page and API
        answer shows (an active grant reads ``expired`` the moment it expires)."""
        if self.status == "active" and not self.valid_at(now):
            if self.event_status != "open" or self.agreement_withdrawn:
                return "revoked"
            return "expired"
        if self.status == "pending" and self.pending_until and parse_iso(self.pending_until) <= now:
            return "expired"
        return self.status


STATUS_LABELS = {
    "pending": "en attente d'approbation",
    "active": "actif",
    "expired": "expiré",
    "revoked": "révoqué",
    "denied": "refusé",
}


AGREEMENT_SQL = (
    "SELECT a.*, d.slug AS dataset_slug, d.title AS dataset_title, d.sensitivity,"
    " d.owner_org_id, u.name AS signed_by_name FROM agreements a"
    " JOIN datasets d ON d.id = a.dataset_id JOIN users u ON u.id = a.signed_by"
)


def agreement_from_row(r: dict[str, Any]) -> Agreement:
    return Agreement(
        id=r["id"],
        key=r["agreement_key"],
        version=r["version"],
        dataset_id=r["dataset_id"],
        dataset_slug=r["dataset_slug"],
        dataset_title=r["dataset_title"],
        sensitivity=r["sensitivity"],
        owner_org_id=r["owner_org_id"],
        roles=tuple(json.loads(r["roles"])),
        event_kinds=tuple(json.loads(r["event_kinds"])),
        drills_allowed=bool(r["drills_allowed"]),
        max_duration_min=r["max_duration_min"],
        approval=r["approval"],
        scope=r["scope"],
        margin_m=float(r["margin_m"]),
        fields=tuple(json.loads(r["fields"])),
        valid_from=r["valid_from"],
        valid_to=r["valid_to"],
        signed_by=r["signed_by"],
        signed_by_name=r["signed_by_name"],
        signed_at=r["signed_at"],
        status=r["status"],
        withdrawn_at=r["withdrawn_at"],
        review_at=r.get("review_at"),
        on_lapse=r.get("on_lapse") or "continue",
    )


GRANT_SQL = (
    "SELECT g.*, e.title AS event_title, e.status AS event_status, e.is_drill,"
    " u.login AS user_login, u.name AS user_name, d.slug AS dataset_slug,"
    " d.title AS dataset_title, d.sensitivity, d.owner_org_id, a.agreement_key,"
    " a.version AS agreement_version, a.fields AS agreement_fields,"
    " a.max_duration_min AS agreement_max_min,"
    " EXISTS (SELECT 1 FROM agreements w WHERE w.agreement_key = a.agreement_key"
    "   AND w.status = 'withdrawn') AS agreement_withdrawn,"
    " dec.name AS decided_by_name, endu.name AS ended_by_name"
    " FROM grants g JOIN events e ON e.id = g.event_id JOIN users u ON u.id = g.user_id"
    " JOIN datasets d ON d.id = g.dataset_id JOIN agreements a ON a.id = g.agreement_id"
    " LEFT JOIN users dec ON dec.id = g.decided_by LEFT JOIN users endu ON endu.id = g.ended_by"
)


def grant_from_row(r: dict[str, Any], clamped: bool = False, clamp_reason: str = "") -> Grant:
    return Grant(
        id=r["id"],
        event_id=r["event_id"],
        event_title=r["event_title"],
        event_status=r["event_status"],
        is_drill=bool(r["is_drill"]),
        user_id=r["user_id"],
        user_login=r["user_login"],
        user_name=r["user_name"],
        dataset_id=r["dataset_id"],
        dataset_slug=r["dataset_slug"],
        dataset_title=r["dataset_title"],
        sensitivity=r["sensitivity"],
        owner_org_id=r["owner_org_id"],
        agreement_id=r["agreement_id"],
        agreement_key=r["agreement_key"],
        agreement_version=r["agreement_version"],
        reason_code=r["reason_code"],
        justification=r["justification"],
        duration_min=r["duration_min"],
        requested_at=r["requested_at"],
        status=r["status"],
        pending_until=r["pending_until"],
        decided_by=r["decided_by"],
        decided_by_name=r["decided_by_name"],
        decided_at=r["decided_at"],
        activated_at=r["activated_at"],
        expires_at=r["expires_at"],
        ended_at=r["ended_at"],
        ended_by_name=r["ended_by_name"],
        end_reason=r["end_reason"],
        flagged_for_review=bool(r["flagged_for_review"]),
        agreement_withdrawn=bool(r["agreement_withdrawn"]),
        clamped=clamped,
        clamp_reason=clamp_reason,
        fields=tuple(json.loads(r["agreement_fields"] or "[]")),
        max_duration_min=r.get("agreement_max_min"),
    )
