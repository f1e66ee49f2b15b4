"""The situation report's PDF (A4 portrait, reportlab platypus over the PDF kit) and the
printable main courante, which shares its page frame and log table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from .. import events, fr
from ..auth import ROLES
from ..clock import local, parse_iso
from ..geo.impact import zone_caveats
from ..geo.render import scaled_drawing
from ..pcs import callouts, calls
from ..pdf import (
    CELL_LEADING,
    CELL_SIZE,
    FONT_BOLD,
    HEAD_BG,
    LINE,
    NAVY,
    RED,
    Markings,
    document,
    esc,
    header_footer,
    key_values,
    styles,
    table,
)
from ..situation import establishment_noun
from .gathering import TRIGGER_LABELS, ReportContext

LATE_NOTE = timedelta(minutes=2)  # a scheduled report produced later than this says so
DECISIONS_SHOWN = 8
TEXT_SHOWN = 600  # characters of a log entry in the summary


LEVEL_COLOURS = {"red": "#b2182b", "orange": "#e06000", "yellow": "#a08400"}
LEVEL_NAMES = {"red": "rouge", "orange": "orange", "yellow": "jaune"}
MARGIN = 40.0
_MARGINS = (MARGIN, MARGIN + 12, MARGIN, MARGIN + 4)  # room for the header and the footer
MAP_MIN_HEIGHT = 250.0  # below this the map moves to the next page rather than shrink
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


# --- sections ----------------------------------------------------------------------------------


def _establishments_line(by_type: dict[str, Any]) -> str:
    """``2 collèges, 1 EHPAD`` (the nouns agree with their numbers)."""
    return ", ".join(
        f"{fr.integer(v['count'])} {establishment_noun(k, v['count'])}" for k, v in by_type.items()
    )


def _header_block(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    e = ctx.event
    out: list[Flowable] = []
    if e.is_drill:
        out.append(Paragraph("EXERCICE — EXERCICE — EXERCICE", st["mark"]))
        out.append(Spacer(1, 4))
    out.append(_p(report_title(ctx), st["title"]))
    out.append(_p(f"{e.title} — {ctx.playbook_title or e.kind}", st["subtitle"]))
    out.append(Spacer(1, 5))
    when = local(ctx.generated_at, "%d/%m/%Y à %H:%M")
    if ctx.reconstituted_at is not None:
        when = (
            f"situation au {when}, reconstituée le"
            f" {local(ctx.reconstituted_at, '%d/%m/%Y à %H:%M')}"
        )
    trigger = TRIGGER_LABELS.get(ctx.trigger, ctx.trigger)
    if ctx.due_at is not None and ctx.generated_at - ctx.due_at > LATE_NOTE:
        trigger += f" (prévu à {local(ctx.due_at, '%H:%M')}, produit en rattrapage)"
    status = "ouvert" if e.is_open else f"clos le {local(e.closed_at)}"
    marking = ctx.classification + (" — EXERCICE" if e.is_drill else "")
    if ctx.classification_note:
        marking += f" ({ctx.classification_note})"
    # A table's TEXTCOLOR does not reach a Paragraph: the classification gets its own style.
    shown = ParagraphStyle("classification", parent=st["cell"], textColor=RED)
    data = [
        [
            _p("Date et heure", st["cellb"]),
            _p(f"{when} (heure de Paris)", st["cell"]),
            _p("Niveau", st["cellb"]),
            _p(f"{e.level} — événement {status}", st["cell"]),
        ],
        [
            _p("Rédigé par", st["cellb"]),
            _p(ctx.author, st["cell"]),
            _p("Déclenchement", st["cellb"]),
            _p(trigger, st["cell"]),
        ],
        [
            _p("Classification", st["cellb"]),
            _p(marking, shown if ctx.restricted else st["cell"]),
            "",
            "",
        ],
    ]
    t = Table(data, colWidths=[78, 180, 85, 172], hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, LINE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("SPAN", (1, 2), (3, 2)),
            ]
        )
    )
    out.append(t)
    if ctx.reconstituted_at is not None:
        out.append(Spacer(1, 4))
        out.append(
            _p(
                "Point reconstitué à partir des enregistrements de la console (main courante,"
                " versions des zones, journal d'audit, historiques de la réponse) tels qu'ils"
                f" étaient connus le {local(ctx.generated_at)}. " + " ".join(ctx.limits),
                st["small"],
            )
        )
    return out


def report_title(ctx: ReportContext) -> str:
    """``Point de situation n°3``, or for a report regenerated as at a past time
    ``Point de situation au 29/11/2026 14:10 (reconstitué le 29/11/2026 15:02)``."""
    if ctx.reconstituted_at is None:
        return f"Point de situation n°{ctx.number}"
    return (
        f"Point de situation au {local(ctx.generated_at)}"
        f" (reconstitué le {local(ctx.reconstituted_at)})"
    )


def _synthesis(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The director's written synthesis, as written (its headings in bold)."""
    e = ctx.event
    out: list[Flowable] = [Paragraph("Synthèse du directeur", st["h1"])]
    if not e.synthesis.strip():
        out.append(
            _empty(
                "Pas de synthèse rédigée par le directeur des opérations pour ce point "
                "(à rédiger dans la console, sur la page de l'événement).",
                st,
            )
        )
        return out
    for line in e.synthesis.splitlines():
        if not line.strip():
            continue
        head, sep, rest = line.partition(":")
        if sep and len(head) <= 40 and head.strip():
            out.append(Paragraph(f"<b>{esc(head.strip())} :</b>{esc(rest)}", st["base"]))
        else:
            out.append(_p(line, st["base"]))
        out.append(Spacer(1, 2))
    out.append(
        _p(
            f"Synthèse du {local(e.synthesis_at, '%d/%m/%Y à %H:%M')} par "
            f"{e.synthesis_by_name or '—'} (version {ctx.synthesis_version or 1},"
            " inscrite en main courante).",
            st["small"],
        )
    )
    return out


def _key_figures(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """People, establishments, zones, communes, time since the declaration, next report."""
    e = ctx.event
    imp = ctx.impact or {}
    outer = imp.get("outer") or {}
    pop = outer.get("population") or {}
    by_type = (outer.get("establishments") or {}).get("by_type") or {}
    zones = imp.get("zones") or []
    communes = outer.get("communes") or []
    elapsed = ctx.generated_at - parse_iso(e.declared_at)
    hours, rest = divmod(int(elapsed.total_seconds()) // 60, 60)
    people = (
        f"{fr.count(pop.get('rounded'), 'personne', 'personnes')} dans la zone enveloppe"
        if pop
        else (ctx.impact_error or "non évalué : aucune zone calculée")
    )
    farthest = max((z.get("distance_m") or 0 for z in zones), default=0)
    zone_text = (
        fr.count(len(zones), "zone", "zones")
        + (f", jusqu'à {fr.integer(farthest)} m de la source" if farthest else "")
        if zones
        else "aucune zone calculée"
    )
    commune_text = (
        fr.count(len(communes), "commune", "communes")
        + " : "
        + ", ".join(str(c.get("name", "")) for c in communes[:8])
        + ("…" if len(communes) > 8 else "")
        if communes
        else "aucune"
    )
    nxt = (
        local(ctx.next_report_at, "%H:%M") + f" (toutes les {e.report_cadence_min} min)"
        if ctx.next_report_at
        else "aucun (événement clos)"
    )
    lines = [
        ("Personnes", people),
        ("Établissements", _establishments_line(by_type) or "aucun dans les zones"),
        ("Zones", zone_text),
        ("Communes touchées", commune_text),
        ("Depuis", f"{local(e.declared_at)} ({hours} h {rest:02d} min)"),
        ("Prochain point", nxt),
    ]
    t = key_values(
        lines,
        [95, 420],
        st["cellb"],
        st["cell"],
        extra=[("BOX", (0, 0), (-1, -1), 0.8, NAVY), ("BACKGROUND", (0, 0), (0, -1), HEAD_BG)],
    )
    return [Paragraph("Chiffres clés", st["h1"]), t]


class _FitMap(Flowable):
    """The map, shrunk to the height left on the page (at least ``MAP_MIN_HEIGHT``: below that
    it asks for more, so the frame moves it to the next page)."""

    def __init__(self, drawing: Any, width: float, max_height: float) -> None:
        super().__init__()
        self.source = drawing
        self.max_width = width
        self.max_height = max_height
        self.drawing: Any = None

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        room = min(self.max_height, avail_height - 2)
        if room < MAP_MIN_HEIGHT:
            room = min(self.max_height, max(MAP_MIN_HEIGHT, avail_height + 1))
        self.drawing = scaled_drawing(self.source, min(self.max_width, avail_width), room)
        w, h = self.drawing.wrap(avail_width, room)
        self.width, self.height = w, h
        return w, h

    def draw(self) -> None:
        x = (self.max_width - self.width) / 2 if self.width < self.max_width else 0
        self.drawing.drawOn(self.canv, x, 0)


def _summary(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    e = ctx.event
    imp = ctx.impact or {}
    outer = imp.get("outer") or {}
    pop = outer.get("population") or {}
    people = fr.integer(pop.get("rounded")) if pop else "non évalué"
    by_type = (outer.get("establishments") or {}).get("by_type") or {}
    est = _establishments_line(by_type)
    zones = imp.get("zones") or []
    zone_text = "; ".join(
        f"{z['label']} ({LEVEL_NAMES.get(z['level'], z['level'])}"
        + (f", {fr.integer(z['distance_m'])} m" if z.get("distance_m") else "")
        + (", distance générique du guide" if z.get("generic_distance") else "")
        + (f", {_share(z['uncovered_share'])} hors des données" if z.get("uncovered_share") else "")
        + ")"
        for z in zones
    )
    since = parse_iso(e.declared_at)
    elapsed = ctx.generated_at - since
    hours, rest = divmod(int(elapsed.total_seconds()) // 60, 60)
    lines = [
        ("Quoi", f"{ctx.playbook_title or e.kind} — {e.title}"),
        ("Niveau", str(e.level)),
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
            0,
            _p(
                f"(+ {fr.count(hidden, 'décision antérieure', 'décisions antérieures')},"
                " voir la main courante)",
                st["small"],
            ),
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
    return [CondPageBreak(160), Paragraph("Situation détaillée", st["h1"]), t]


def _share(share: float) -> str:
    return "moins de 1\u202f%" if share < 0.01 else f"{round(share * 100):d}\u202f%"


def _caveats(columns: list[dict[str, Any]], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The limits of the figures (generic distance, zone leaving the data), zone by zone."""
    seen: set[tuple[str, ...]] = set()
    lines = []
    for z in columns:
        notes = zone_caveats(z)
        if not notes or (z.get("id") == "outer" and tuple(notes) in seen):
            continue
        seen.add(tuple(notes))
        name = "Zone enveloppe" if z.get("id") == "outer" else z["label"]
        colour = LEVEL_COLOURS.get(z["level"], "#1a1a1a")
        lines.append(
            Paragraph(
                f"<font color='{colour}'>■</font> <b>{esc(name)}</b> : {esc(' '.join(notes))}",
                st["cell"],
            )
        )
    if not lines:
        return []
    return [Paragraph("Limites des chiffres", st["h2"]), *lines]


def _short(text: str, limit: int = TEXT_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _map_section(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    heading = Paragraph("Carte des zones", st["h1"])
    if ctx.map is None:
        return [heading, _empty("Carte indisponible : aucune zone calculée.", st)]
    # Not KeepTogether: it measures its content against an unbounded height, so the map would
    # always ask its full height and leave page 1 whenever less than that is left (a
    # reconstituted report's longer header). The map shrinks to what page 1 has left instead,
    # down to MAP_MIN_HEIGHT; below that, heading and map go to the next page together.
    return [CondPageBreak(MAP_MIN_HEIGHT + 32), heading, _FitMap(ctx.map, A4[0] - 2 * MARGIN, 430)]


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
            + (" (générique)" if z.get("generic_distance") else "")
            + (f" — {z['threshold']}" if z.get("threshold") else "")
            for z in columns
        ],
    )
    line("Population", [fr.integer((z.get("population") or {}).get("rounded")) for z in columns])
    types = sorted({t for z in columns for t in (z.get("establishments") or {}).get("by_type", {})})
    for t in types:
        line(
            f"{establishment_noun(t, 2, capital=True)} (nombre / capacité)",
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
    out += _caveats(columns, st)
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
                establishment_noun(it.get("type")),
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


def _closures(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [
        Paragraph("Points de bouclage (routes coupant la zone enveloppe)", st["h1"])
    ]
    imp = ctx.impact or {}
    points = imp.get("closure_points") or []
    for r in imp.get("closure_restricted") or []:
        out.append(
            _p(
                f"{r['title']} : {fr.count(r['count'], 'point', 'points')} (accès restreint).",
                st["small"],
            )
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
                "—" if bearing is None else f"{_compass(bearing)} ({fr.integer(bearing)}°)",
                f"{p['lat']:.5f} N, {p['lon']:.5f} E",
            ]
        )
    out.append(table(data, [25, 215, 70, 75, 130], align_right=(0,)))
    out.append(_p("Direction : vue depuis la source de l'événement.", st["small"]))
    return out


def _response(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The response (app.pcs): each part only when it has content; counts, never a name."""
    r = ctx.response
    if r is None or not r.has_content:
        return []
    out: list[Flowable] = [CondPageBreak(120), Paragraph("Réponse opérationnelle", st["h1"])]
    if r.callouts:
        shown = ", ".join(
            f"{fr.integer(n)} {callouts.STATUSES[k]}" for k, n in r.callouts.items() if n
        )
        out.append(
            KeepTogether(
                [Paragraph("Rappel des personnels", st["h2"]), _p(shown + ".", st["base"])]
            )
        )
    if r.calls_total:
        part: list[Flowable] = [Paragraph("Personnes vulnérables — campagne d'appels", st["h2"])]
        data: list[list[Any]] = [["Statut", "Personnes"]]
        data += [[label, fr.integer(r.calls.get(k, 0))] for k, label in calls.STATUSES.items()]
        data.append(["Total sur la liste", fr.integer(r.calls_total)])
        part.append(table(data, [200, 80], align_right=(1,)))
        if r.calls.get("due_again"):
            due = fr.count(r.calls["due_again"], "personne", "personnes")
            part.append(_p(f"Sans réponse depuis plus de 15 min, à rappeler : {due}.", st["small"]))
        out.append(KeepTogether(part))
    if r.centres or r.evacuation:
        part = [Paragraph("Centres d'accueil et évacuation", st["h2"])]
        if r.evacuation:
            arrived, hosted = r.evacuation
            part.append(
                _p(
                    f"{fr.count(arrived, 'personne accueillie', 'personnes accueillies')} dans"
                    f" les centres depuis le début, {fr.integer(hosted)} présentes à"
                    f" {local(ctx.generated_at, '%H:%M')}.",
                    st["base"],
                )
            )
        if r.centres:
            rows_: list[list[Any]] = [["Centre ouvert", "Commune", "Présents", "Capacité", "Reste"]]
            over_rows = []
            for n, c in enumerate(r.centres, 1):
                rest = f"dépassée de {fr.integer(c.over)}" if c.over else fr.integer(c.remaining)
                if c.over or not c.remaining:
                    over_rows.append(n)
                rows_.append(
                    [c.name, c.commune, fr.integer(c.occupancy), fr.integer(c.capacity), rest]
                )
            extra = [("TEXTCOLOR", (4, n), (4, n), RED) for n in over_rows]
            part.append(table(rows_, [200, 110, 60, 60, 85], align_right=(2, 3, 4), extra=extra))
        out.append(KeepTogether(part))
    if r.means:
        data = [["Moyen", "Organisation", "État", "Lieu"]]
        data += [[m.name, m.organisation, m.label, m.place or "—"] for m in r.means]
        out.append(
            KeepTogether([Paragraph("Moyens engagés", st["h2"]), table(data, [170, 150, 60, 135])])
        )
    if r.tasks_late:
        data = [["Tâche", "Confiée à", "Échéance", "État"]]
        data += [
            [t.title, t.assignee, local(t.due_at, "%d/%m %H:%M"), t.label] for t in r.tasks_late
        ]
        extra = [("TEXTCOLOR", (2, n), (2, n), RED) for n in range(1, len(data))]
        late = table(data, [250, 110, 75, 80], extra=extra)
        out.append(KeepTogether([Paragraph("Tâches en retard", st["h2"]), late]))
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
        _p(
            f"{fr.count(done, 'faite', 'faites')}, {fr.integer(late)} en retard,"
            f" {fr.integer(pending)} à faire.",
            st["base"],
        ),
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
                f"« rapport ») : {titles}. Ce document n'en donne que les comptages ; leur détail"
                " (identifiants, carte) est dans l'annexe restreinte de ce point, qui ne se"
                " télécharge qu'avec un accès valide à ces données, chaque téléchargement étant"
                " enregistré et revu par le propriétaire.",
                st["small"],
            )
        )
    return out


def _annex(ctx: ReportContext, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Technical references (ids, versions, hashes): the annex, not the body."""
    e = ctx.event
    out: list[Flowable] = [
        CondPageBreak(160),
        Paragraph("Annexe — références techniques", st["h1"]),
        _p(
            "Pour retrouver ce point dans la console et vérifier qu'il n'a pas été altéré.",
            st["small"],
        ),
        Spacer(1, 3),
    ]
    lines = [
        (
            "Événement",
            f"n°{e.id}, guide « {e.kind} »" + (f", site {e.site_fid}" if e.site_fid else ""),
        ),
        (
            "Zones",
            f"version {ctx.zones_version}, calculées le {local(ctx.zones_computed_at)}"
            if ctx.zones_version
            else "aucune zone calculée",
        ),
    ]
    if e.synthesis:
        lines.append(
            (
                "Synthèse",
                f"version {ctx.synthesis_version or 1}"
                + (
                    f", entrée n°{ctx.synthesis_entry_id} de la main courante"
                    if ctx.synthesis_entry_id
                    else ""
                ),
            )
        )
    if ctx.grants:
        lines.append(
            (
                "Conventions des accès en vigueur",
                "; ".join(f"{g['dataset']} : {g['agreement']}" for g in ctx.grants),
            )
        )
    if ctx.opened:
        lines.append(("Jeux ouverts dans ce point", ", ".join(ctx.opened)))
    cp = ctx.checkpoint
    lines += [
        ("Tête du journal d'audit", f"enregistrement n°{ctx.audit_seq}"),
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
    out.append(key_values(lines, [150, 365], st["cellb"], st["cell"]))
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
    title = f"{report_title(ctx)} — {e.title}"
    story: list[Flowable] = []
    # Page 1: who, when, what the director says, the key figures and the map.
    story += _header_block(ctx, st)
    story += _synthesis(ctx, st)
    story += _key_figures(ctx, st)
    story += _map_section(ctx, st)
    # Then the detail, and the technical references in an annex.
    story += _summary(ctx, st)
    story += _zone_figures(ctx, st)
    story += _establishments(ctx, st)
    story += _closures(ctx, st)
    story += _response(ctx, st)
    story += _checklist(ctx, st)
    story += _log(ctx, st)
    story += _grants(ctx, st)
    story += _annex(ctx, st)
    stamp = f"Point de situation n°{ctx.number} du {local(ctx.generated_at)}"
    left = f"PS n°{ctx.number} — {e.title}"
    if ctx.reconstituted_at is not None:  # said on every page: this is not a report of its time
        stamp = f"{report_title(ctx)}, n°{ctx.number}"
        left = f"PS au {local(ctx.generated_at)} (reconstitué) — {e.title}"
    page = _page(
        left, ctx.classification, e.is_drill, f"{stamp} — niveau {e.level} — crisis-console"
    )
    subject = "Point de situation" + (" — EXERCICE" if e.is_drill else "")
    return document(story, page, title=title, author=ctx.author, subject=subject, margins=_MARGINS)


# --- the printable main courante ---------------------------------------------------------------


def log_pdf(
    db: sqlite_utils.Database, now: datetime, event: events.Event, printed_by: str
) -> bytes:
    """The whole main courante as a PDF, for the paper log kept as a backup."""
    st = styles()
    entries = events.log_entries(db, event.id)
    title = f"Main courante — {event.title}"
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
            f"{fr.count(len(entries), 'entrée', 'entrées')},"
            f" jusqu'à l'entrée n°{entries[-1].id if entries else 0}.",
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
    subject = "Main courante" + (" — EXERCICE" if event.is_drill else "")
    return document(story, page, title=title, author=printed_by, subject=subject, margins=_MARGINS)
