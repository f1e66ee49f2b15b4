"""The bodies of the JSON API, as pydantic 2 models: what each operation takes and answers.

``app.web.openapi`` writes their JSON Schema (2020-12) into ``/api/v1/openapi.json`` and checks
every request body and query string against them. Request bodies are closed (an unknown key is
refused: a typo must not pass silently) and strict (text is not a number, ``1`` is not
``true``); answer models list the keys every answer has and allow more, so that a field added
later does not break a client. Keys are the API's contract: never rename one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from .. import access

# --- base classes -------------------------------------------------------------------------------


class In(BaseModel):
    """A request body: closed and strict."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """A query string: values are text converted to the declared types; other parameters are
    ignored (a cache-buster or a page's own parameter must not break a read)."""

    model_config = ConfigDict(extra="ignore")


class Out(BaseModel):
    """An answer: the keys always present; more may come."""

    model_config = ConfigDict(extra="allow")


Text = Annotated[str, Field(max_length=4000)]
Line = Annotated[str, Field(max_length=200)]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
FactAt = Annotated[
    str | None,
    Field(
        default=None,
        max_length=40,
        description="Heure du fait (ISO 8601) quand elle n'est pas celle de l'envoi.",
    ),
]
Item = dict[str, Any]
Bbox = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^-?[0-9]+(\.[0-9]+)?(,-?[0-9]+(\.[0-9]+)?){3}$",
        description="minlon,minlat,maxlon,maxlat (WGS84)",
    ),
]

# --- who am I, audit ----------------------------------------------------------------------------


class Organisation(Out):
    slug: str
    name: str


class Whoami(Out):
    login: str
    name: str
    roles: list[str]
    organisation: Organisation
    server_time: str
    csrf_token: str | None = Field(default=None, description="Avec la session seulement.")


class PartChangeOut(Out):
    version: int = Field(description="La version de l'événement à ce changement.")
    at: str
    by: str | None


class StateZonesOut(Out):
    version: int
    computed_at: str
    wind_from_deg: float | None
    wind_speed_ms: float | None
    by: str | None = None
    notice: str | None = Field(
        default=None, description="« Zones recalculées (version 3, vent 260°) à 14:02 par … »"
    )


class EventStateOut(Out):
    event: int
    version: int = Field(description="Croît à chaque changement que montre une vue.")
    changed_at: str | None
    status: str
    level: int
    parts: dict[str, int] = Field(description="Partie (zones, log, checklist…) → sa version.")
    changes: dict[str, PartChangeOut]
    zones: StateZonesOut | None
    server_time: str


class GlobalStateOut(Out):
    version: int = Field(description="La somme des versions de tous les événements.")
    events: int
    changed_at: str | None
    server_time: str


class InboxItemOut(Out):
    id: str = Field(description="« genre:numéro », ex. « approval:12 ».")
    kind: str
    title: str
    detail: str
    event: int | None
    event_title: str
    drill: bool
    until: str | None = Field(description="L'échéance (ISO 8601, UTC) s'il y en a une.")
    url: str = Field(description="La page où le traiter.")


class InboxOut(Out):
    count: int
    counts: dict[str, int]
    fingerprint: str
    pending_roles: list[str]
    items: list[InboxItemOut]
    server_time: str


class AuditHead(Out):
    seq: int
    hash: str | None


# --- events -------------------------------------------------------------------------------------


class SynthesisOut(Out):
    text: str
    at: str | None
    by: str | None


class EventOut(Out):
    id: int
    playbook: str
    title: str
    drill: bool
    level: int
    status: Literal["open", "closed"]
    declared_by: str
    declared_at: str
    closed_at: str | None
    closing_statement: str | None
    site: str | None
    point: list[float]
    place: str
    params: dict[str, Any]
    report_cadence_min: int
    synthesis: SynthesisOut


class LogEntryOut(Out):
    id: int
    fact_at: str
    recorded_at: str
    author: str
    category: str
    text: str
    corrects: int | None
    corrected_by: int | None
    system: bool
    inject: bool


class ChecklistItemOut(Out):
    id: int
    key: str
    title: str
    role: str
    due_at: str
    done: bool
    done_by: str | None
    done_at: str | None
    note: str | None
    late: bool


class EventFull(EventOut):
    url: str
    checklist: list[ChecklistItemOut]
    log: list[LogEntryOut]
    next_report_at: str | None
    zones: dict[str, Any] | None


class EventList(Out):
    events: list[EventOut]


class EventsQuery(Query):
    status: Literal["open", "closed"] | None = None


class EventIn(In):
    playbook: Line = Field(description="Identifiant du guide (toxic-release, seine-flood…).")
    title: Line | None = None
    site: Line | None = Field(default=None, description="Identifiant d'un site Seveso.")
    point: Annotated[list[float], Field(min_length=2, max_length=2)] | None = Field(
        default=None, description="[longitude, latitude] en WGS84."
    )
    params: dict[str, Any] | None = None
    drill: bool = False
    level: Annotated[int, Field(ge=1, le=5)] | None = None


class LogQuery(Query):
    since: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    category: (
        Literal["information", "décision", "action", "message reçu", "message émis"] | None
    ) = None


class LogList(Out):
    entries: list[LogEntryOut]
    last_id: int


class LogEntryIn(In):
    category: Literal["information", "décision", "action", "message reçu", "message émis"] = (
        "information"
    )
    text: Text
    fact_at: FactAt
    corrects: Id | None = Field(default=None, description="L'entrée que celle-ci corrige.")


class TickIn(In):
    note: Text = ""
    fact_at: FactAt


class LevelIn(In):
    level: Annotated[int, Field(ge=1, le=5)]
    reason: Annotated[str, Field(min_length=1, max_length=4000)]


class ParamsIn(In):
    params: Annotated[dict[str, Any], Field(min_length=1)] = Field(
        description="Les paramètres qui changent (nom → valeur), vérifiés par le guide."
    )
    reason: Annotated[str, Field(min_length=1, max_length=4000)]


class ParamsOut(EventOut):
    zones_version: int | None


class CloseIn(In):
    statement: Annotated[str, Field(min_length=1, max_length=4000)]


class SynthesisIn(In):
    text: Annotated[
        str,
        Field(
            min_length=1,
            max_length=3500,  # events.SYNTHESIS_MAX: the whole text goes in one log entry
            description="Le texte entier (situation, mesures prises, prochaines étapes).",
        ),
    ]


# --- situation, datasets, addresses -------------------------------------------------------------


class FeatureCollection(Out):
    type: Literal["FeatureCollection"]
    features: list[Item]


class Impact(Out):
    event: int
    drill: bool
    zones_version: int | None


class MapFeatures(FeatureCollection):
    restricted: list[Item]
    opened: list[Item]


class DatasetsQuery(Query):
    theme: Line | None = None
    owner: Line | None = None
    sensitivity: Line | None = None
    q: Line | None = None


class DatasetList(Out):
    datasets: list[Item]


class FeaturesQuery(Query):
    bbox: Bbox | None = None
    event: Id | None = Field(default=None, description="Pour un jeu restreint : l'événement.")


class BboxQuery(Query):
    bbox: Bbox | None = None


# Paging judged by the view (its French message names the bounds); the document says them.
PageLimit = Annotated[
    Any,
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 100_000}),
    Field(description="Éléments par liste (toutes les listes sont paginées)."),
]
PageOffset = Annotated[
    Any,
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 10**9}),
    Field(description="Premier élément de chaque liste (0 : le premier)."),
]


AtParam = Annotated[
    str | None,
    Field(
        default=None,
        max_length=64,
        description="Instant ISO 8601 (sans décalage : heure de Paris) : la situation telle"
        " qu'elle était alors, entre la déclaration et maintenant (vue historique).",
    ),
]


class AtQuery(Query):
    at: AtParam = None


class ImpactQuery(Query):
    limit: PageLimit = None
    offset: PageOffset = None
    at: AtParam = None


class RestrictedFeatures(FeatureCollection):
    classification: str
    drill: bool
    grant: Item


class AddressQuery(Query):
    q: Annotated[str, Field(min_length=1, max_length=200)]
    limit: Annotated[int, Field(ge=1, le=50)] | None = None


class AddressList(Out):
    query: str
    count: int
    addresses: list[Item]


# --- break-glass access -------------------------------------------------------------------------


class GrantIn(In):
    dataset: Line
    reason_code: Line
    justification: Text
    # Judged by the domain (app.numbers: whole, finite, 1 to DURATION_MAX_MIN) with its own
    # French message; the document says what it accepts.
    duration_min: Annotated[
        Any,
        WithJsonSchema(
            {"type": ["integer", "null"], "minimum": 1, "maximum": access.DURATION_MAX_MIN}
        ),
    ] = None
    totp: Annotated[str, Field(max_length=20)] | None = None


class DecisionIn(In):
    reason: Text = ""


class GrantOut(Out):
    id: int
    status: str
    event: int
    dataset: str
    user: str


class GrantList(Out):
    grants: list[GrantOut]


# --- the owner's review (docs/owner-review.md) ---------------------------------------------------


class ReviewQuery(Query):
    org: Line | None = Field(
        default=None,
        description="L'organisation propriétaire (slug) ; par défaut celle de l'utilisateur.",
    )


class Person(Out):
    login: str
    name: str


class VerdictOut(Out):
    id: int
    verdict: Literal["conforme", "contestee"]
    label: str
    comment: str
    content_sha256: str
    matches_content: bool | None
    covered_seq: int
    signed_by: Person
    signed_at: str
    answer: Item | None


class ReviewOut(Out):
    format: str
    event: Item
    organisation: Item
    summary: Item
    grants: list[Item] = Field(description="Chaque accès, avec ses lectures (« reads »).")
    audit_seqs: list[int]
    content_sha256: str = Field(description="SHA-256 de la forme canonique du contenu.")
    verdict: VerdictOut | None
    generated_at: str


class VerdictIn(In):
    # The verdict's value and the comment are the domain's to judge (its French message).
    verdict: Annotated[
        str, Field(max_length=20, json_schema_extra={"enum": ["conforme", "contestee"]})
    ]
    comment: Text = ""
    grants: list[Id] | None = Field(default=None, description="Les accès contestés.")
    reads: list[Id] | None = Field(default=None, description="Les lectures contestées.")


# --- the response (PCS) -------------------------------------------------------------------------


class ContactList(Out):
    contacts: list[Item]


class Callouts(Out):
    event: int
    lists: list[Item]


class Calls(Out):
    event: int
    personal: bool
    counts: dict[str, Any]
    items: list[Item]


class CallIn(In):
    status: Line
    note: Text | None = ""
    fact_at: FactAt


class CallOut(Out):
    person_id: str
    status: str
    called_at: str | None
    called_by: str | None


class CentresQuery(Query):
    all: Literal["0", "1"] | None = Field(default=None, description="1 : tous les centres.")


class Centres(Out):
    event: int
    centres: list[Item]
    evacuation: dict[str, Any] | None


class CentreCountIn(In):
    arrivals: Annotated[int, Field(ge=0, le=100_000)] | None = None
    departures: Annotated[int, Field(ge=0, le=100_000)] | None = None
    count: Annotated[int, Field(ge=0, le=100_000)] | None = None
    note: Text | None = ""
    fact_at: FactAt


class CentreOut(Out):
    id: str
    name: str
    capacity: int
    occupancy: int


class MeansList(Out):
    event: int
    means: list[Item]


class TaskList(Out):
    event: int
    tasks: list[Item]


# --- situation reports --------------------------------------------------------------------------


class ReportOut(Out):
    id: int
    event_id: int
    number: int
    trigger: str
    generated_at: str
    author: str
    sha256: str
    size: int
    classification: str
    filename: str
    url: str = Field(description="Le PDF.")


class ReportList(Out):
    event: int
    reports: list[ReportOut]
    next_report_at: str | None


# --- outgoing messages and partners -------------------------------------------------------------

Kind = Literal["cap", "emsi", "report"]
TemplateId = Literal["mise-a-l-abri", "evacuation", "levee", "point-de-situation"]


class MessageIn(In):
    kind: Kind
    template: TemplateId
    recipients: list[Id] | None = Field(
        default=None,
        description="Identifiants de l'annuaire ; par défaut, les partenaires qui reçoivent "
        "ce type de message (ou, pour un exercice, les destinataires d'exercice).",
    )
    report_id: Id | None = Field(
        default=None, description="Pour un point de situation : le PDF joint (le dernier sinon)."
    )


class MessageEditIn(In):
    subject: Annotated[str, Field(max_length=200)] | None = None
    headline: Annotated[str, Field(max_length=160)] | None = None
    cbs: Annotated[str, Field(max_length=2000)] | None = None
    description: Annotated[str, Field(max_length=8000)] | None = None
    instruction: Annotated[str, Field(max_length=4000)] | None = None
    body: Annotated[str, Field(max_length=12000)] | None = None
    recipients: list[Id] | None = None


class CancelIn(In):
    reason: Annotated[str, Field(max_length=1000)] = ""


class CountIn(In):
    text: Annotated[str, Field(max_length=20_000)]


class CbsCountOut(Out):
    encoding: Literal["gsm7", "ucs2"]
    characters: int
    units: int
    pages: int
    page_size: int
    max_pages: int
    invalid: list[str]
    fits: bool
    message: str


class RecipientOut(Out):
    partner_id: int | None
    organisation: str
    role: str
    email: str


class DeliveryOut(Out):
    id: int
    message_id: int
    organisation: str
    role: str
    email: str
    result: Literal["pending", "sent", "failed", "skipped", "abandoned"]
    attempts: int
    error: str
    last_attempt_at: str | None
    next_attempt_at: str | None


class MessageOut(Out):
    id: int
    event_id: int
    kind: Kind
    template: TemplateId
    status: Literal["brouillon", "validé", "émis", "annulé"]
    drill: bool
    subject: str
    fields: dict[str, Any]
    author: str
    created_at: str
    validated_by: str | None
    validated_at: str | None
    emitted_by: str | None
    emitted_at: str | None
    cancelled_at: str | None
    cancel_reason: str | None
    report_id: int | None
    msg_type: str | None = Field(description="CAP Alert/Update/Cancel, EMSI ALERT/UPDATE/CANCEL.")
    references: list[str] = Field(description="CAP : sender,identifier,sent ; EMSI : ids.")
    identifier: str | None
    sha256: str | None
    media_type: str | None
    filename: str | None
    recipients: list[RecipientOut] | None
    recipient_ids: list[int]
    deliveries: list[DeliveryOut]
    cbs_count: CbsCountOut | None = None
    content_url: str


class SendOut(MessageOut):
    skipped: list[DeliveryOut] = Field(
        description="Les envois non faits faute de relais SMTP configuré."
    )


class MessageList(Out):
    event: int
    messages: list[MessageOut]
    cap_update_due: list[str] = Field(
        description="Pourquoi l'alerte en cours doit être mise à jour."
    )
    smtp_configured: bool


class DeliveryList(Out):
    message: int
    deliveries: list[DeliveryOut]


class PartnerIn(In):
    organisation: Line
    role: Line
    email: Annotated[str, Field(max_length=254)]
    kinds: list[Kind] = Field(default_factory=lambda: ["cap", "emsi", "report"])
    drill_only: bool = False


class PartnerEditIn(In):
    organisation: Line | None = None
    role: Line | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    kinds: list[Kind] | None = None
    drill_only: bool | None = None
    active: bool | None = None


class PartnerOut(Out):
    id: int
    organisation: str
    role: str
    email: str
    kinds: list[Kind]
    drill_only: bool
    active: bool
    feed_token: bool = Field(description="Un jeton de flux CAP est en vigueur.")
    created_at: str
    updated_at: str


class PartnerList(Out):
    partners: list[PartnerOut]


class FeedTokenOut(Out):
    partner: int
    token: str = Field(description="Montré une seule fois : seule son empreinte est gardée.")
    feed: str


class OpenApiDocument(Out):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
