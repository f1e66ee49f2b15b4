"""A situation report's restricted annex: the detail of the restricted data its author's grants
opened (the features read, their measures in the zones, the map with those layers), which the
report's body gives as counts only. Stored apart and hashed like the body; every download is a
recorded read (``app.reports.downloads``)."""

from __future__ import annotations

from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import CondPageBreak, KeepTogether, Paragraph, Spacer
from reportlab.platypus.flowables import Flowable

from .. import fr
from ..clock import local
from ..geo.render import scaled_drawing
from ..pdf import RED, document, esc, key_values, styles, table
from .gathering import RESTRICTED, ReportContext
from .layout import _MARGINS, MARGIN, _empty, _p, _page

ITEMS_SHOWN = 2000  # features listed per dataset (an annex is read, not searched)


def _measures(ctx: ReportContext, slug: str) -> dict[str, str]:
    """Per feature id of an opened dataset, its length or distance in the outer zone."""
    outer = (ctx.annex_impact or {}).get("outer") or {}
    out: dict[str, str] = {}
    for group in (*outer.get("networks", []), *outer.get("other", [])):
        if group.get("dataset") != slug:
            continue
        for it in group.get("items") or []:
            if it.get("length_m") is not None:
                out[str(it["id"])] = f"{fr.integer(it['length_m'])} m dans la zone"
            elif it.get("distance_m") is not None:
                out[str(it["id"])] = f"à {fr.integer(it['distance_m'])} m de la source"
    return out


def _dataset_section(ctx: ReportContext, slug: str, st: dict[str, Any]) -> list[Flowable]:
    feats = ctx.opened_features.get(slug) or []
    title = ctx.dataset_titles.get(slug, slug)
    out: list[Flowable] = [CondPageBreak(120), Paragraph(esc(title), st["h1"])]
    out.append(
        _p(
            fr.count(len(feats), "objet lu", "objets lus")
            + " par l'auteur du point sous son accès (zone de l'événement et marge de la"
            " convention, champs autorisés par la convention).",
            st["base"],
        )
    )
    if not feats:
        out.append(_empty("Aucun objet dans le périmètre de l'accès.", st))
        return out
    keys: list[str] = []
    for f in feats:
        for k in f.get("properties") or {}:
            if k not in keys and k != "id":
                keys.append(k)
    keys = keys[:4]
    measures = _measures(ctx, slug)
    head = ["Identifiant", *keys, "Dans la zone"]
    data: list[list[Any]] = [head]
    for f in feats[:ITEMS_SHOWN]:
        props = f.get("properties") or {}
        fid = str(f.get("id"))
        data.append(
            [fid, *("—" if props.get(k) in (None, "") else str(props[k]) for k in keys)]
            + [measures.get(fid, "hors zone (marge)")]
        )
    rest = 515 - 110 - 105
    widths = [110] + [rest / max(1, len(keys))] * len(keys) + [105]
    out.append(table(data, widths))
    if len(feats) > ITEMS_SHOWN:
        more = len(feats) - ITEMS_SHOWN
        out.append(_p(f"(+ {fr.count(more, 'objet', 'objets')} non listés ici)", st["small"]))
    return out


def render_annex(ctx: ReportContext, body_sha256: str) -> bytes:
    """The annex's PDF (A4 portrait), always DIFFUSION RESTREINTE (and EXERCICE for a drill)."""
    st = styles()
    e = ctx.event
    story: list[Flowable] = []
    if e.is_drill:
        story += [Paragraph("EXERCICE — EXERCICE — EXERCICE", st["mark"]), Spacer(1, 4)]
    story += [
        Paragraph(f"Annexe restreinte du point de situation n°{ctx.number}", st["title"]),
        _p(e.title, st["subtitle"]),
        Spacer(1, 6),
    ]
    titles = ", ".join(ctx.dataset_titles.get(s, s) for s in sorted(ctx.opened_features))
    fields = [
        ("Événement", f"{e.title} (n°{e.id})"),
        ("Point de situation", f"n°{ctx.number} du {local(ctx.generated_at, '%d/%m/%Y à %H:%M')}"),
        ("Rédigé par", ctx.author),
        ("Données détaillées", titles),
        ("Document principal", f"SHA-256 {body_sha256}"),
    ]
    shown = ParagraphStyle("classification", parent=st["cell"], textColor=RED)
    fields.append(("Classification", _p(RESTRICTED + (" — EXERCICE" if e.is_drill else ""), shown)))
    story.append(key_values(fields, [110, 405], st["cellb"], st["cell"]))
    story.append(Spacer(1, 6))
    story.append(
        _p(
            "Cette annexe donne le détail des données restreintes que le point de situation ne"
            " donne qu'en comptages. Elle ne se télécharge qu'avec un accès valide à ces données"
            " pour l'événement, au moment du téléchargement ; chaque téléchargement est"
            " enregistré et revu par le propriétaire des données. Ne la transférez pas.",
            st["small"],
        )
    )
    if ctx.annex_map is not None:
        story.append(
            KeepTogether(
                [
                    Paragraph("Carte avec les couches ouvertes", st["h1"]),
                    scaled_drawing(ctx.annex_map, A4[0] - 2 * MARGIN, 430),
                ]
            )
        )
    for slug in sorted(ctx.opened_features):
        story += _dataset_section(ctx, slug, st)
    page = _page(
        f"Annexe restreinte — PS n°{ctx.number} — {e.title}",
        RESTRICTED,
        e.is_drill,
        f"Annexe du point de situation n°{ctx.number} du {local(ctx.generated_at)}"
        " — crisis-console",
    )
    subject = "Annexe restreinte d'un point de situation" + (" — EXERCICE" if e.is_drill else "")
    return document(
        story,
        page,
        title=f"Annexe restreinte — PS n°{ctx.number} — {e.title}",
        author=ctx.author,
        subject=subject,
        margins=_MARGINS,
    )
