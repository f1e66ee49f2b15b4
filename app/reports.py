"""Situation reports (points de situation) and the printable main courante, as PDF.

A report is built in three steps: :func:`gather` reads everything the report shows into a
:class:`ReportContext` (the event, the impact figures, the map, the log since the previous
report, the checklist, the grants in force, the audit head), :func:`render_report` lays it out with
reportlab platypus (A4 portrait, French, DejaVu fonts so accents always render), and
:func:`generate` numbers it, stores it (immutable: ``reports`` refuses UPDATE and DELETE) and
writes its audit record.

Choices (see also the module docstring of ``app.scheduler``):

- Numbering is sequential per event whatever the trigger (schedule or manual). ``UNIQUE(event_id,
  number)`` is the final guard: two processes never store the same number; the loser re-numbers
  (a manual report) or finds that its slot was produced by the other (a scheduled one).
- The audit head printed in the PDF and stored with the report is the head read while gathering;
  the report's own ``report.generated`` record follows it.
- Restricted data: a scheduled report has no reader, so restricted and personal layers appear as
  counts only. A manual report opens the restricted (never personal) layers that its author holds
  a valid grant for; the read goes through ``app.access.read_features`` with purpose ``report`` so
  it is recorded like any other read. Personal data (vulnerable persons) is always counted, never
  listed: a PDF is copied and forwarded and cannot be revoked.
- Classification: *DIFFUSION RESTREINTE* as soon as restricted data is inside: a layer opened by a
  grant, restricted features drawn on the map, or grants in force listed (who holds access to which
  restricted dataset is itself restricted information).

This module never imports Flask.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from io import BytesIO
from typing import Any

import sqlite_utils
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from . import audit, events, fr, index_cache, situation
from .clock import iso, local, parse_iso
from .db import row, rows, scalar, transaction
from .errors import DomainError
from .geo.index import SpatialIndex
from .geo.render import render_map
from .pdf import (
    CELL_LEADING,
    CELL_SIZE,
    FONT_BOLD,
    HEAD_BG,
    INK,
    LINE,
    NAVY,
    RED,
    Markings,
    esc,
    header_footer,
    numbered_canvas,
    styles,
    table,
)
from .playbooks import Playbook

log = logging.getLogger(__name__)

TRIGGERS = ("schedule", "manual")
TRIGGER_LABELS = {"schedule": "programmé", "manual": "à la demande"}
RESTRICTED = "DIFFUSION RESTREINTE"
UNRESTRICTED = "NON PROTÉGÉ"
LATE_NOTE = timedelta(minutes=2)  # a scheduled report produced later than this says so
DECISIONS_SHOWN = 8
TEXT_SHOWN = 600  # characters of a log entry in the summary

# --- fonts ------------------------------------------------------------------------------------

# --- what a report shows -----------------------------------------------------------------------


@dataclass
class ReportContext:
    """Everything one report shows, read at one moment; rendering reads nothing else."""

    event: events.Event
    number: int
    generated_at: datetime
    author: str
    trigger: str
    playbook_title: str = ""
    due_at: datetime | None = None
    previous_at: str | None = None  # generated_at of the previous report
    params: list[tuple[str, str]] = field(default_factory=list)
    impact: dict[str, Any] | None = None  # Impact.to_json()
    impact_error: str = ""
    map: Drawing | None = None  # a render_map() drawing
    map_restricted: bool = False
    log: list[events.LogEntry] = field(default_factory=list)  # since the previous report
    decisions: list[events.LogEntry] = field(default_factory=list)  # all, oldest first
    checklist: list[events.ChecklistItem] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)  # restricted datasets listed in full
    audit_seq: int = 0
    audit_hash: str = audit.GENESIS
    checkpoint: dict[str, Any] | None = None
    next_report_at: datetime | None = None
    dataset_titles: dict[str, str] = field(default_factory=dict)

    @property
    def restricted(self) -> bool:
        return bool(self.opened or self.map_restricted or self.grants)

    @property
    def classification(self) -> str:
        return RESTRICTED if self.restricted else UNRESTRICTED


@dataclass(frozen=True)
class Report:
    """One stored report (the PDF is fetched separately: :func:`report_pdf`)."""

    id: int
    event_id: int
    number: int
    trigger: str
    generated_at: str
    due_at: str | None
    author: str
    sha256: str
    size: int
    audit_seq: int
    audit_hash: str
    classification: str

    @property
    def trigger_label(self) -> str:
        return TRIGGER_LABELS.get(self.trigger, self.trigger)

    @property
    def filename(self) -> str:
        return f"PS{self.number:02d}-evenement-{self.event_id}.pdf"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "number": self.number,
            "trigger": self.trigger,
            "generated_at": self.generated_at,
            "due_at": self.due_at,
            "author": self.author,
            "sha256": self.sha256,
            "size": self.size,
            "audit_seq": self.audit_seq,
            "audit_hash": self.audit_hash,
            "classification": self.classification,
        }


class ReportError(DomainError):
    """A refused report operation, with a French message."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message, status=status)


# --- the map ---------------------------------------------------------------------------------

MAP_WIDTH = 515.0  # A4 portrait frame width at 40 pt margins
MAP_HEIGHT = 400.0


# --- gathering ------------------------------------------------------------------------------


def next_number(db: sqlite_utils.Database, event_id: int) -> int:
    """The number the event's next report takes."""
    return (
        int(scalar(db, "SELECT MAX(number) FROM reports WHERE event_id = ?", [event_id]) or 0) + 1
    )


def grants_in_force(
    db: sqlite_utils.Database, now: datetime, event_id: int
) -> list[dict[str, Any]]:
    """Who holds which restricted dataset right now, until when (valid grants only)."""
    try:
        from . import access
    except ImportError:  # pragma: no cover - access ships with the app
        return []
    return [
        {
            "user": g.user_name,
            "dataset": g.dataset_title,
            "slug": g.dataset_slug,
            "sensitivity": g.sensitivity,
            "since": g.activated_at,
            "until": g.expires_at,
            "agreement": f"{g.agreement_key} v{g.agreement_version}",
        }
        for g in sorted(access.holders(db, now, event_id), key=lambda g: (g.user_name, g.id))
    ]


def _open_for_report(
    db: sqlite_utils.Database, now: datetime, event: events.Event, reader: Any, number: int
) -> dict[str, list[dict[str, Any]]]:
    """Restricted datasets the author may open in this report, with the features read.

    Each read goes through ``app.access.read_features`` (purpose ``report``): it is recorded.
    """
    if reader is None:
        return {}
    from . import access

    opened: dict[str, list[dict[str, Any]]] = {}
    for g in access.holders(db, now, event.id):
        if g.user_id != reader.id or g.sensitivity != "restricted" or g.dataset_slug in opened:
            continue
        try:
            features, _ = access.read_features(
                db, now, reader, event.id, g.dataset_slug, "report", f"report:{event.id}:{number}"
            )
        except access.AccessError:
            continue
        opened[g.dataset_slug] = features
    return opened


def gather(
    db: sqlite_utils.Database,
    now: datetime,
    event: events.Event,
    *,
    number: int,
    author: str,
    trigger: str = "manual",
    reader: Any = None,
    due_at: datetime | None = None,
    playbook: Any = None,
    with_map: bool = True,
    index: Any = None,
) -> ReportContext:
    """Read everything report ``number`` of the event shows, as of ``now``.

    ``reader`` (an ``auth.User``) is the author of a manual report: the restricted datasets they
    hold a valid grant for are opened (and the reads recorded); None for a scheduled report.
    """
    event_id = event.id
    previous = row(
        db,
        "SELECT generated_at FROM reports WHERE event_id = ? AND number < ?"
        " ORDER BY number DESC LIMIT 1",
        [event_id, number],
    )
    previous_at = previous["generated_at"] if previous else None
    entries = events.log_entries(db, event_id)
    since = [e for e in entries if previous_at is None or e.recorded_at >= previous_at]
    decisions = [e for e in entries if e.category == "décision"]
    opened = _open_for_report(db, now, event, reader, number)
    ctx = ReportContext(
        event=event,
        number=number,
        generated_at=now,
        author=author,
        trigger=trigger,
        playbook_title=getattr(playbook, "title", "") or "",
        due_at=due_at,
        previous_at=previous_at,
        params=events.describe_params(playbook, event.params),
        log=since,
        decisions=decisions,
        checklist=events.checklist(db, event_id),
        grants=grants_in_force(db, now, event_id),
        opened=sorted(opened),
        next_report_at=events.next_report_at(event, now),
        dataset_titles={
            r["slug"]: r["title"] for r in rows(db, "SELECT slug, title FROM datasets")
        },
    )
    ctx.audit_seq, ctx.audit_hash = audit.head(db)
    ctx.checkpoint = audit.last_checkpoint(db)
    if index is None:
        index = index_cache.index_for(db)
    impact_obj = None
    zones = events.latest_zones(db, event_id)
    try:
        if zones is not None:
            impact_obj = situation.event_impact(db, index, event_id, frozenset(opened))
            ctx.impact = impact_obj.to_json()
    except Exception as exc:  # a report without figures beats no report in a crisis
        log.exception("impact of event %s failed", event_id)
        ctx.impact_error = f"Analyse d'impact indisponible : {exc}"
    if with_map and zones is not None and zones["geojson"].get("features"):
        try:
            spec = situation.event_map_spec(
                db, index, event_id, open_layers=opened, impact=impact_obj, time_label=local(now)
            )
            ctx.map = render_map(spec, MAP_WIDTH, MAP_HEIGHT)
            ctx.map_restricted = spec.is_restricted
        except Exception:
            log.exception("map of event %s failed", event_id)
    return ctx


# --- layout ------------------------------------------------------------------------------------

LEVEL_COLOURS = {"red": "#b2182b", "orange": "#e06000", "yellow": "#a08400"}
LEVEL_NAMES = {"red": "rouge", "orange": "orange", "yellow": "jaune"}
ESTABLISHMENT_TYPES = {
    "creche": "crèche",
    "ecole": "école",
    "college": "collège",
    "lycee": "lycée",
    "ehpad": "EHPAD",
    "hopital": "hôpital",
    "clinique": "clinique",
}
MARGIN = 40.0
HEADER_H = 34.0
FOOTER_H = 26.0


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(esc(text), style)


def _page(
    left: str, classification: str, drill: bool, stamp: str
) -> Callable[[Canvas, int, int], None]:
    """The page frame of a report or a printed log (the kit's header and footer)."""
    markings = Markings(drill=drill, classification=classification)

    def decorate(c: Canvas, page: int, total: int) -> None:
        header_footer(
            c, page, total, size=A4, margin=MARGIN, left=left, stamp=stamp, markings=markings
        )

    return decorate


def _empty(text: str, st: dict[str, ParagraphStyle]) -> Paragraph:
    return Paragraph(f"<i>{esc(text)}</i>", st["muted"])


def _doc(buf: BytesIO, title: str, author: str, subject: str) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 12,
        bottomMargin=MARGIN + 4,
        title=title,
        author=author,
        subject=subject,
        creator="crisis-console",
        pageCompression=1,
    )


# --- sections ----------------------------------------------------------------------------------


def _header_block(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    e = ctx.event
    out: list[Flowable] = []
    if e.is_drill:
        out.append(Paragraph("EXERCICE — EXERCICE — EXERCICE", st["mark"]))
        out.append(Spacer(1, 4))
    out.append(Paragraph(f"Point de situation n°{ctx.number}", st["title"]))
    out.append(_p(e.title, st["subtitle"]))
    out.append(Spacer(1, 6))
    when = local(ctx.generated_at, "%d/%m/%Y à %H:%M")
    trigger = TRIGGER_LABELS.get(ctx.trigger, ctx.trigger)
    if ctx.due_at is not None and ctx.generated_at - ctx.due_at > LATE_NOTE:
        trigger += f" (prévu à {local(ctx.due_at, '%H:%M')}, produit en rattrapage)"
    status = "ouvert" if e.is_open else f"clos le {local(e.closed_at)}"
    fields = [
        ("Événement", f"{e.title} (n°{e.id}, {ctx.playbook_title or e.kind})"),
        ("Niveau", f"{e.level} — événement {status}"),
        ("Date et heure", f"{when} (heure de Paris)"),
        ("Rédigé par", ctx.author),
        ("Déclenchement", trigger),
        ("Classification", ctx.classification + (" — EXERCICE" if e.is_drill else "")),
    ]
    data = [[_p(k, st["cellb"]), _p(v, st["cell"])] for k, v in fields]
    t = Table(data, colWidths=[95, 420], hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, LINE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("TEXTCOLOR", (1, 5), (1, 5), RED if ctx.restricted else INK),
            ]
        )
    )
    out.append(t)
    return out


def _summary(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    e = ctx.event
    imp = ctx.impact or {}
    outer = imp.get("outer") or {}
    pop = outer.get("population") or {}
    people = fr.integer(pop.get("rounded")) if pop else "non évalué"
    by_type = (outer.get("establishments") or {}).get("by_type") or {}
    est = ", ".join(
        f"{fr.integer(v['count'])} {ESTABLISHMENT_TYPES.get(k, k)}" for k, v in by_type.items()
    )
    zones = imp.get("zones") or []
    zone_text = "; ".join(
        f"{z['label']} ({LEVEL_NAMES.get(z['level'], z['level'])}"
        + (f", {fr.integer(z['distance_m'])} m" if z.get("distance_m") else "")
        + ")"
        for z in zones
    )
    since = parse_iso(e.declared_at)
    elapsed = ctx.generated_at - since
    hours, rest = divmod(int(elapsed.total_seconds()) // 60, 60)
    lines = [
        ("Quoi", f"{ctx.playbook_title or e.kind} — {e.title}"),
        ("Où", e.place or f"{e.lat:.5f} N, {e.lon:.5f} E"),
        ("Depuis", f"{local(e.declared_at)} ({hours} h {rest:02d} min)"),
        (
            "Personnes concernées",
            f"{people} personnes dans la zone enveloppe"
            + (f" ({pop.get('method')})" if pop.get("method") else ""),
        ),
        ("Établissements", est or "aucun établissement recensé dans les zones"),
        ("Zones", zone_text or "aucune zone calculée"),
    ]
    if ctx.params:
        lines.append(("Paramètres", "; ".join(f"{k} : {v}" for k, v in ctx.params)))
    nxt = (
        local(ctx.next_report_at, "%d/%m/%Y à %H:%M") + f" (cadence {e.report_cadence_min} min)"
        if ctx.next_report_at
        else "aucun (événement clos)"
    )
    lines.append(("Prochain point", nxt))
    data = [[_p(k, st["cellb"]), _p(v, st["cell"])] for k, v in lines]
    shown = ctx.decisions[-DECISIONS_SHOWN:]
    hidden = len(ctx.decisions) - len(shown)
    dec: list[Any] = [
        Paragraph(f"<b>{local(d.fact_at, '%d/%m %H:%M')}</b> — {esc(_short(d.text))}", st["cell"])
        for d in shown
    ]
    if hidden:
        dec.insert(
            0, _p(f"(+ {hidden} décision(s) antérieure(s), voir la main courante)", st["small"])
        )
    data.append([_p("Décisions prises", st["cellb"]), dec or _p("aucune", st["cell"])])
    t = Table(data, colWidths=[95, 420], hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.8, NAVY),
                ("BACKGROUND", (0, 0), (0, -1), HEAD_BG),
                ("LINEBELOW", (0, 0), (-1, -2), 0.25, LINE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return [Paragraph("Synthèse", st["h1"]), t]


def _short(text: str, limit: int = TEXT_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _map_section(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    from .geo.render import scaled_drawing

    out: list[Flowable] = [Paragraph("Carte des zones", st["h1"])]
    if ctx.map is None:
        out.append(_empty("Carte indisponible : aucune zone calculée.", st))
        return out
    out.append(scaled_drawing(ctx.map, A4[0] - 2 * MARGIN, 430))
    return [KeepTogether(out)]


def _zone_figures(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [CondPageBreak(120), Paragraph("Impact par zone", st["h1"])]
    imp = ctx.impact
    if imp is None:
        out.append(
            _empty(ctx.impact_error or "Aucune zone calculée : pas de chiffres d'impact.", st)
        )
        return out
    zones = list(imp.get("zones") or [])
    outer = imp.get("outer")
    columns = zones + ([outer] if outer and len(zones) > 1 else [])
    if not columns:
        out.append(_empty("Aucune zone.", st))
        return out
    head = [_p("", st["cellb"])] + [
        Paragraph(
            f"<font color='{LEVEL_COLOURS.get(z['level'], '#1a1a1a')}'>■</font> {esc(z['label'])}",
            st["cellb"],
        )
        for z in columns
    ]
    data: list[list[Any]] = [head]

    def line(label: str, values: list[str]) -> None:
        data.append([_p(label, st["cell"])] + [_p(v, st["cell"]) for v in values])

    line(
        "Distance / seuil",
        [
            (f"{fr.integer(z['distance_m'])} m" if z.get("distance_m") else "—")
            + (f" — {z['threshold']}" if z.get("threshold") else "")
            for z in columns
        ],
    )
    line("Population", [fr.integer((z.get("population") or {}).get("rounded")) for z in columns])
    types = sorted({t for z in columns for t in (z.get("establishments") or {}).get("by_type", {})})
    for t in types:
        line(
            f"{ESTABLISHMENT_TYPES.get(t, t).capitalize()} (nombre / capacité)",
            [
                _count_cap((z.get("establishments") or {}).get("by_type", {}).get(t))
                for z in columns
            ],
        )
    nets = _network_rows(columns)
    for label, values in nets:
        line(label, values)
    n = len(columns)
    width = (A4[0] - 2 * MARGIN - 150) / n
    out.append(table(data, [150] + [width] * n, long=False, align_right=range(1, n + 1)))
    pop = (outer or {}).get("population") or {}
    if pop:
        out.append(
            _p(
                f"Population : {pop.get('method', '')} — source : {pop.get('source', '')}"
                + (f" {pop['year']}" if pop.get("year") else "")
                + ". Chiffres cumulés : chaque zone inclut les zones plus graves qu'elle contient.",
                st["small"],
            )
        )
    restricted_note = any(z.get("restricted") for z in columns)
    if restricted_note:
        out.append(
            _p(
                "Données restreintes ou personnelles : comptages seuls (détail ouvert uniquement "
                "par bris de glace, hors point de situation pour les données personnelles).",
                st["small"],
            )
        )
    communes = (outer or {}).get("communes") or []
    out.append(Paragraph("Communes concernées (zone enveloppe)", st["h2"]))
    if communes:
        cdata = [["Commune", "Code Insee", "Population dans la zone", "Population totale", "Part"]]
        for c in communes:
            share = c.get("share")
            cdata.append(
                [
                    str(c.get("name", "")),
                    c.get("insee", ""),
                    fr.integer(c.get("population_inside")),
                    fr.integer(c.get("population")),
                    fr.percent(share),
                ]
            )
        out.append(table(cdata, [185, 60, 105, 95, 70], align_right=(2, 3, 4)))
    else:
        out.append(_empty("Aucune commune dans les zones.", st))
    return out


def _count_cap(v: dict[str, Any] | None) -> str:
    if not v:
        return "0"
    return f"{fr.integer(v.get('count'))} / {fr.integer(v.get('capacity'))}"


def _network_rows(columns: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    keys: dict[str, str] = {}
    for z in columns:
        for n in z.get("networks") or []:
            keys.setdefault(n["dataset"], n["title"])
        for r in z.get("restricted") or []:
            keys.setdefault(r["dataset"], r["title"])
    out = []
    for slug, title in keys.items():
        values = []
        restricted = False
        for z in columns:
            net = next((n for n in z.get("networks") or [] if n["dataset"] == slug), None)
            res = next((r for r in z.get("restricted") or [] if r["dataset"] == slug), None)
            item = net or res
            if res is not None and net is None:
                restricted = True
            if item is None:
                values.append("—")
            elif item.get("length_m") is not None:
                values.append(f"{fr.km(item['length_m'])} km ({fr.integer(item['count'])})")
            else:
                values.append(fr.integer(item.get("count")))
        out.append((title + (" *" if restricted else ""), values))
    return out


def _establishments(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("Établissements dans les zones", st["h1"])]
    imp = ctx.impact or {}
    outer = imp.get("outer") or {}
    items = (outer.get("establishments") or {}).get("items") or []
    if not items:
        out.append(_empty("Aucun établissement recensé dans les zones.", st))
        return out
    worst: dict[tuple[str, str], str] = {}
    for z in reversed(imp.get("zones") or []):  # mildest first, so the worst zone wins
        for it in (z.get("establishments") or {}).get("items") or []:
            worst[(it.get("dataset", ""), it["id"])] = _zone_short(z)
    data: list[list[Any]] = [["Nom", "Type", "Commune", "Capacité", "Distance", "Zone"]]
    for it in items:
        data.append(
            [
                str(it.get("name") or it["id"]),
                str(ESTABLISHMENT_TYPES.get(str(it.get("type")), it.get("type") or "—")),
                str(it.get("commune") or "—"),
                fr.integer(it.get("capacity")) if it.get("capacity") is not None else "—",
                f"{fr.integer(it.get('distance_m'))} m",
                str(worst.get((it.get("dataset", ""), it["id"]), "—")),
            ]
        )
    out.append(table(data, [200, 55, 110, 50, 50, 50], align_right=(3, 4)))
    return out


def _zone_short(z: dict[str, Any]) -> str:
    name = LEVEL_NAMES.get(z.get("level", ""), z.get("level", ""))
    return f"{name} ({z['threshold']})" if z.get("threshold") else name


def _opened_networks(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    outer = (ctx.impact or {}).get("outer") or {}
    nets = [n for n in outer.get("networks") or [] if n.get("items")]
    if not nets:
        return []
    out: list[Flowable] = [Paragraph("Réseaux ouverts par bris de glace (détail)", st["h1"])]
    for n in nets:
        out.append(Paragraph(esc(n["title"]), st["h2"]))
        data: list[list[Any]] = [["Identifiant", "Nom", "Type", "Longueur / distance"]]
        for it in n["items"]:
            measure = (
                f"{fr.integer(it['length_m'])} m"
                if it.get("length_m") is not None
                else f"{fr.integer(it.get('distance_m'))} m"
            )
            data.append(
                [
                    str(it["id"]),
                    str(it.get("name") or "—"),
                    str(it.get("type") or "—"),
                    measure,
                ]
            )
        out.append(table(data, [120, 215, 90, 90], align_right=(3,)))
    return out


def _closures(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [
        Paragraph("Points de bouclage (routes coupant la zone enveloppe)", st["h1"])
    ]
    imp = ctx.impact or {}
    points = imp.get("closure_points") or []
    for r in imp.get("closure_restricted") or []:
        out.append(
            _p(f"{r['title']} : {fr.integer(r['count'])} point(s) (accès restreint).", st["small"])
        )
    if not points:
        out.append(_empty("Aucun point de bouclage : aucune route ne coupe la zone.", st))
        return out
    data: list[list[Any]] = [["N°", "Route", "Nature", "Direction", "Position (WGS84)"]]
    for i, p in enumerate(points, 1):
        road = " — ".join(x for x in (p.get("ref"), p.get("name")) if x) or p.get("road_id", "")
        bearing = p.get("bearing_deg")
        data.append(
            [
                str(i),
                str(road),
                str(p.get("kind") or "—"),
                "—" if bearing is None else f"{_compass(bearing)} ({bearing:.0f}°)",
                f"{p['lat']:.5f} N, {p['lon']:.5f} E",
            ]
        )
    out.append(table(data, [25, 215, 70, 75, 130], align_right=(0,)))
    out.append(_p("Direction : vue depuis la source de l'événement.", st["small"]))
    return out


def _compass(deg: float) -> str:
    names = ["N", "NE", "E", "SE", "S", "SO", "O", "NO"]
    return names[int(((deg % 360) + 22.5) // 45) % 8]


def _checklist(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    items = ctx.checklist
    now = ctx.generated_at
    done = sum(1 for i in items if i.done)
    late = sum(1 for i in items if i.late(now))
    pending = len(items) - done - late
    out: list[Flowable] = [
        CondPageBreak(90),
        Paragraph("Liste d'actions", st["h1"]),
        _p(f"{done} faite(s), {late} en retard, {pending} à faire.", st["base"]),
        Spacer(1, 3),
    ]
    if not items:
        out.append(_empty("Aucune action prévue par le guide.", st))
        return out
    data: list[list[Any]] = [["Action", "Rôle", "Échéance", "État"]]
    late_rows = []
    for n, i in enumerate(items, 1):
        if i.done:
            state = f"faite le {local(i.done_at, '%d/%m %H:%M')}"
            if i.done_by_name:
                state += f" par {i.done_by_name}"
            if i.done_late():
                state += " (en retard)"
        elif i.late(now):
            state = "EN RETARD"
            late_rows.append(n)
        else:
            state = "à faire"
        data.append(
            [
                str(i.title),
                str(_role_label(i.role)),
                local(i.due_at, "%d/%m %H:%M"),
                state,
            ]
        )
    extra = [("TEXTCOLOR", (3, r), (3, r), RED) for r in late_rows] + [
        ("FONT", (3, r), (3, r), FONT_BOLD, CELL_SIZE, CELL_LEADING) for r in late_rows
    ]
    out.append(table(data, [250, 85, 65, 115], extra=extra))
    return out


def _role_label(role: str) -> str:
    from .auth import ROLES

    return ROLES.get(role, role)


def _log(ctx: ReportContext, st: dict[str, ParagraphStyle], *, title: str = "") -> list[Flowable]:
    heading = title or (
        f"Main courante depuis le point précédent ({local(ctx.previous_at)})"
        if ctx.previous_at
        else "Main courante depuis la déclaration"
    )
    out: list[Flowable] = [CondPageBreak(90), Paragraph(esc(heading), st["h1"])]
    if not ctx.log:
        out.append(_empty("Aucune entrée depuis le point précédent.", st))
        return out
    out.extend(logtable(ctx.log, st))
    return out


def logtable(entries: Sequence[events.LogEntry], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The main courante as a table that breaks across pages with its header repeated."""
    data: list[list[Any]] = [["N°", "Heure du fait", "Catégorie", "Auteur", "Texte"]]
    for e in entries:
        text = e.text
        if e.corrects_id:
            text = f"[Correction de l'entrée n°{e.corrects_id}] " + text
        if e.corrected_by:
            text += f" [corrigée par l'entrée n°{e.corrected_by}]"
        if e.is_inject:
            text = "[Inject d'exercice] " + text
        when = local(e.fact_at, "%d/%m %H:%M")
        if e.recorded_at[:16] != e.fact_at[:16]:
            when += f"\n(saisi {local(e.recorded_at, '%H:%M')})"
        data.append(
            [
                str(e.id),
                when,
                events.CATEGORY_LABELS.get(e.category, e.category),
                e.author_name,
                text,
            ]
        )
    return [table(data, [30, 62, 60, 85, 278], align_right=(0,))]


def _grants(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [
        CondPageBreak(80),
        Paragraph("Accès en vigueur (bris de glace)", st["h1"]),
    ]
    if not ctx.grants:
        out.append(_empty("Aucun accès en vigueur sur cet événement.", st))
        return out
    data: list[list[Any]] = [["Titulaire", "Données", "Sensibilité", "Depuis", "Jusqu'à"]]
    for g in ctx.grants:
        data.append(
            [
                str(g["user"]),
                str(g["dataset"]),
                {"restricted": "restreinte", "personal": "personnelle"}.get(
                    g["sensitivity"], g["sensitivity"]
                ),
                local(g.get("since"), "%d/%m %H:%M") or "—",
                local(g.get("until"), "%d/%m %H:%M") or "—",
            ]
        )
    out.append(table(data, [130, 185, 70, 65, 65]))
    if ctx.opened:
        titles = ", ".join(ctx.dataset_titles.get(s, s) for s in ctx.opened)
        out.append(
            _p(
                f"Données ouvertes dans ce point par son auteur (lecture tracée, finalité "
                f"« rapport ») : {titles}.",
                st["small"],
            )
        )
    return out


def _audit(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [CondPageBreak(80), Paragraph("Journal d'audit", st["h1"])]
    cp = ctx.checkpoint
    lines = [
        ("Tête du journal", f"enregistrement n°{ctx.audit_seq}"),
        ("Empreinte (SHA-256)", ctx.audit_hash),
    ]
    if cp:
        lines += [
            (
                "Dernier point de contrôle signé",
                f"n°{cp['seq']} le {local(cp['signed_at'])} (clé {cp['key_id']})",
            ),
            ("Empreinte au point de contrôle", cp["hash"]),
        ]
    else:
        lines.append(("Dernier point de contrôle signé", "aucun"))
    data = [[_p(k, st["cellb"]), _p(v, st["cell"])] for k, v in lines]
    t = Table(data, colWidths=[150, 365], hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [("LINEBELOW", (0, 0), (-1, -1), 0.25, LINE), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        )
    )
    out.append(t)
    out.append(
        _p(
            "Copie témoin : comparez cette empreinte à la sortie de « crisis-console audit "
            "verify ». L'empreinte SHA-256 de ce document figure dans la liste des points de "
            "situation de la console.",
            st["small"],
        )
    )
    return out


def render_report(ctx: ReportContext) -> bytes:
    """The report's PDF (A4 portrait)."""
    st = styles()
    e = ctx.event
    buf = BytesIO()
    title = f"Point de situation n°{ctx.number} — {e.title}"
    doc = _doc(buf, title, ctx.author, "Point de situation" + (" — EXERCICE" if e.is_drill else ""))
    story: list[Flowable] = []
    story += _header_block(ctx, st)
    story += _summary(ctx, st)
    story += _map_section(ctx, st)
    story += _zone_figures(ctx, st)
    story += _establishments(ctx, st)
    story += _opened_networks(ctx, st)
    story += _closures(ctx, st)
    story += _checklist(ctx, st)
    story += _log(ctx, st)
    story += _grants(ctx, st)
    story += _audit(ctx, st)
    page = _page(
        f"PS n°{ctx.number} — {e.title}",
        ctx.classification,
        e.is_drill,
        f"Point de situation n°{ctx.number} du {local(ctx.generated_at)} — niveau {e.level}"
        " — crisis-console",
    )
    doc.build(story, canvasmaker=numbered_canvas(page))
    return buf.getvalue()


# --- storing -----------------------------------------------------------------------------------

_REPORT_COLUMNS = (
    "id, event_id, number, trigger, generated_at, due_at, author, sha256, length(pdf) AS size,"
    " audit_seq, audit_hash, classification"
)


def _report(r: dict[str, Any]) -> Report:
    return Report(**{k: r[k] for k in Report.__dataclass_fields__})


def list_reports(db: sqlite_utils.Database, event_id: int) -> list[Report]:
    """The event's reports, newest first."""
    return [
        _report(r)
        for r in rows(
            db,
            f"SELECT {_REPORT_COLUMNS} FROM reports WHERE event_id = ? ORDER BY number DESC",
            [event_id],
        )
    ]


def get_report(db: sqlite_utils.Database, report_id: int) -> Report | None:
    r = row(db, f"SELECT {_REPORT_COLUMNS} FROM reports WHERE id = ?", [report_id])
    return _report(r) if r else None


def report_pdf(db: sqlite_utils.Database, report_id: int) -> bytes | None:
    """The stored PDF bytes of a report."""
    found = scalar(db, "SELECT pdf FROM reports WHERE id = ?", [report_id])
    return bytes(found) if found is not None else None


def _slot_done(db: sqlite_utils.Database, event_id: int, due_at: str) -> bool:
    return bool(
        scalar(
            db,
            "SELECT 1 FROM reports WHERE event_id = ? AND trigger = 'schedule' AND due_at >= ?",
            [event_id, due_at],
        )
    )


def generate(
    db: sqlite_utils.Database,
    now: datetime,
    event: events.Event,
    *,
    trigger: str = "manual",
    author: str,
    actor: str | None = None,
    reader: Any = None,
    due_at: datetime | None = None,
    playbook: Any = None,
    index: Any = None,
    attempts: int = 3,
) -> Report | None:
    """Build, number and store one report; write its audit record. Returns it.

    For a scheduled report (``due_at`` given) returns None when that slot was already produced,
    e.g. by another scheduler process. The number is checked again in the storing transaction and
    the UNIQUE constraint is the final guard; on a lost race a manual report is rebuilt with the
    next number.
    """
    import sqlite3

    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    event_id = event.id
    due = iso(due_at) if due_at is not None else None
    for _ in range(attempts):
        if due is not None and _slot_done(db, event_id, due):
            return None
        number = next_number(db, event_id)
        ctx = gather(
            db,
            now,
            event,
            number=number,
            author=author,
            trigger=trigger,
            reader=reader,
            due_at=due_at,
            playbook=playbook,
            index=index,
        )
        pdf = render_report(ctx)
        digest = hashlib.sha256(pdf).hexdigest()
        try:
            with transaction(db):
                if due is not None and _slot_done(db, event_id, due):
                    return None
                if next_number(db, event_id) != number:
                    continue  # someone stored this number meanwhile: rebuild with the next one
                cur = db.execute(
                    "INSERT INTO reports (event_id, number, trigger, generated_at, due_at, author,"
                    " pdf, sha256, audit_seq, audit_hash, classification)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        event_id,
                        number,
                        trigger,
                        iso(now),
                        due,
                        author,
                        pdf,
                        digest,
                        ctx.audit_seq,
                        ctx.audit_hash,
                        ctx.classification,
                    ],
                )
                report_id = int(cur.lastrowid or 0)
                audit.append(
                    db,
                    now,
                    "report.generated",
                    actor=actor,
                    object_type="report",
                    object_id=report_id,
                    event_id=event_id,
                    details={
                        "number": number,
                        "trigger": trigger,
                        "due_at": due,
                        "sha256": digest,
                        "size": len(pdf),
                        "classification": ctx.classification,
                        "audit_seq": ctx.audit_seq,
                        "opened": ctx.opened,
                    },
                )
        except sqlite3.IntegrityError:
            log.info("report %s of event %s stored by another process", number, event_id)
            continue
        found = get_report(db, report_id)
        assert found is not None
        return found
    if due is not None and _slot_done(db, event_id, due):
        return None
    raise ReportError("Numérotation du point de situation disputée : réessayez.", 409)


def issue(
    db: sqlite_utils.Database,
    now: datetime,
    event: events.Event,
    signer: audit.Signer | None,
    *,
    trigger: str = "manual",
    author: str,
    actor: str | None = None,
    reader: Any = None,
    due_at: datetime | None = None,
    playbook: Playbook | None = None,
    index: SpatialIndex | None = None,
) -> Report | None:
    """Generate, number and store a report (:func:`generate`), then sign a checkpoint witnessing
    it (``report:<event>:<number>``), for the web page, the CLI and the scheduler alike.

    ``signer`` None: no checkpoint here (the scheduler's checkpoint sweep signs once after all
    the reports of its run).
    """
    report = generate(
        db,
        now,
        event,
        trigger=trigger,
        author=author,
        actor=actor,
        reader=reader,
        due_at=due_at,
        playbook=playbook,
        index=index,
    )
    if report is not None and signer is not None:
        signer.sign(db, now, f"report:{event.id}:{report.number}")
    return report


def set_cadence(
    db: sqlite_utils.Database, now: datetime, event_id: int, minutes: Any, *, actor: Any
) -> events.Event:
    """Change the event's report cadence (minutes, 5 to 1440); logged and audited.

    The schedule stays anchored on the declaration: the next report is due at the first
    ``declared_at + k × cadence`` after the last scheduled one.
    """
    try:
        value = int(minutes)
    except (TypeError, ValueError):
        raise ReportError("La cadence doit être un nombre entier de minutes.") from None
    if not 5 <= value <= 24 * 60:
        raise ReportError("La cadence doit être comprise entre 5 et 1440 minutes.")
    with transaction(db):
        event = events.get_event(db, event_id)
        if event is None:
            raise ReportError("Événement introuvable.", 404)
        if not event.is_open:
            raise ReportError("L'événement est clos : sa cadence ne change plus.", 409)
        if event.report_cadence_min == value:
            raise ReportError(f"La cadence est déjà de {value} minutes.")
        db.execute("UPDATE events SET report_cadence_min = ? WHERE id = ?", [value, event_id])
        events.add_log(
            db,
            now,
            event_id,
            actor=actor,
            category="décision",
            text=f"Cadence des points de situation : {event.report_cadence_min} → {value} min.",
        )
        audit.append(
            db,
            now,
            "event.cadence_changed",
            actor=actor.login,
            object_type="event",
            object_id=event_id,
            event_id=event_id,
            details={"from": event.report_cadence_min, "to": value},
        )
    found = events.get_event(db, event_id)
    assert found is not None
    return found


# --- the printable main courante ---------------------------------------------------------------


def log_pdf(
    db: sqlite_utils.Database, now: datetime, event: events.Event, printed_by: str
) -> bytes:
    """The whole main courante as a PDF, for the paper log kept as a backup."""
    st = styles()
    entries = events.log_entries(db, event.id)
    buf = BytesIO()
    title = f"Main courante — {event.title}"
    doc = _doc(buf, title, printed_by, "Main courante" + (" — EXERCICE" if event.is_drill else ""))
    story: list[Flowable] = []
    if event.is_drill:
        story += [Paragraph("EXERCICE — EXERCICE — EXERCICE", st["mark"]), Spacer(1, 4)]
    story += [
        Paragraph("Main courante", st["title"]),
        _p(event.title, st["subtitle"]),
        Spacer(1, 4),
        _p(
            f"Événement n°{event.id}, niveau {event.level}, déclaré le {local(event.declared_at)}"
            f" — {event.place}. Imprimée le {local(now)} par {printed_by} : "
            f"{len(entries)} entrée(s), jusqu'à l'entrée n°{entries[-1].id if entries else 0}.",
            st["base"],
        ),
        Spacer(1, 6),
    ]
    if entries:
        story += logtable(entries, st)
    else:
        story.append(_empty("Main courante vide.", st))
    story += [
        Spacer(1, 14),
        _p(
            "Suite manuscrite (heure, catégorie, auteur, texte) — à reporter dans la console dès "
            "que possible :",
            st["muted"],
        ),
    ]
    blank = Table([[""] * 4 for _ in range(8)], colWidths=[60, 70, 90, 295], rowHeights=22)
    blank.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, LINE)]))
    story.append(blank)
    page = _page(
        f"Main courante — {event.title}",
        "",
        event.is_drill,
        f"Main courante imprimée le {local(now)} — crisis-console",
    )
    doc.build(story, canvasmaker=numbered_canvas(page))
    return buf.getvalue()


__all__ = [
    "Report",
    "ReportContext",
    "ReportError",
    "gather",
    "generate",
    "issue",
    "get_report",
    "list_reports",
    "log_pdf",
    "render_report",
    "report_pdf",
    "set_cadence",
]
