"""The owner review as a PDF (reportlab): every grant and every read of an organisation's data."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .access import REASON_CODES, STATUS_LABELS, Review
from .clock import local, parse_iso


def _p(text: Any, style: Any) -> Paragraph:
    safe = str(text if text is not None else "—")
    safe = safe.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Paragraph(safe, style)


def _table(head: list[str], body: list[list[Any]], widths: list[float], style: Any) -> Table:
    data = [[_p(h, style) for h in head]] + [[_p(c, style) for c in r] for r in body]
    t = Table(data, colWidths=widths, repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return t


def review_pdf(review: Review) -> bytes:
    """The review as PDF bytes, marked DIFFUSION RESTREINTE (and EXERCICE for a drill)."""
    buf = io.BytesIO()
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    marking = "DIFFUSION RESTREINTE" + (" — EXERCICE" if review.event.is_drill else "")

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica-Bold", 9)
        canvas.setFillColor(colors.red)
        w, h = landscape(A4)
        canvas.drawCentredString(w / 2, h - 10 * mm, marking)
        canvas.drawCentredString(w / 2, 7 * mm, marking)
        canvas.setFillColor(colors.black)
        canvas.setFont("Helvetica", 7)
        canvas.drawRightString(w - 12 * mm, 7 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buf,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=16 * mm,
        bottomMargin=14 * mm,
        title=f"Revue des accès — {review.org['name']}",
    )
    ev = review.event
    story: list[Any] = [
        Paragraph(f"Revue des accès — {review.org['name']}", styles["Title"]),
        _p(
            f"Événement n° {ev.id} : {ev.title} — déclaré le {local(ev.declared_at)}"
            + (f", clos le {local(ev.closed_at)}" if ev.closed_at else ", en cours"),
            styles["BodyText"],
        ),
        _p(f"Revue générée le {local(review.generated_at)}.", styles["BodyText"]),
        _p(
            f"Tête du journal d'audit : n° {review.head_seq} — {review.head_hash}",
            styles["BodyText"],
        ),
        _p(
            (
                f"Dernier point de contrôle signé : n° {review.checkpoint['seq']} —"
                f" {review.checkpoint['hash']} ({local(review.checkpoint['signed_at'])},"
                f" clé {review.checkpoint['key_id']})"
            )
            if review.checkpoint
            else "Aucun point de contrôle signé.",
            styles["BodyText"],
        ),
        Spacer(1, 4 * mm),
        Paragraph(f"Accès accordés ({len(review.grants)})", styles["Heading2"]),
    ]
    now = parse_iso(review.generated_at)
    story.append(
        _table(
            [
                "N°",
                "Qui",
                "Données",
                "Motif",
                "Justification",
                "Du",
                "Au",
                "Approuvé par",
                "État",
                "Convention",
            ],
            [
                [
                    g.id,
                    f"{g.user_name} ({g.user_login})",
                    g.dataset_title,
                    REASON_CODES.get(g.reason_code, g.reason_code),
                    g.justification,
                    local(g.activated_at) or f"demandé {local(g.requested_at)}",
                    local(g.ended_at or g.expires_at),
                    g.decided_by_name
                    or ("sans approbation — à revoir" if g.flagged_for_review else "—"),
                    STATUS_LABELS[g.effective_status(now)]
                    + (f" ({g.end_reason})" if g.end_reason else ""),
                    f"{g.agreement_key} v{g.agreement_version}",
                ]
                for g in review.grants
            ],
            [w * mm for w in (10, 34, 30, 26, 56, 22, 22, 30, 24, 18)],
            small,
        )
    )
    story += [Spacer(1, 4 * mm), Paragraph(f"Lectures ({len(review.reads)})", styles["Heading2"])]
    story.append(
        _table(
            ["Audit n°", "Quand", "Qui", "Accès", "Données", "Usage", "Objets", "Identifiants"],
            [
                [
                    r["seq"],
                    local(r["at"], "%d/%m/%Y %H:%M:%S"),
                    r["actor"],
                    r["details"].get("grant"),
                    r["details"].get("dataset"),
                    r["details"].get("purpose"),
                    r["details"].get("count"),
                    ", ".join(map(str, r["details"].get("ids", [])[:60]))
                    + (" …" if len(r["details"].get("ids", [])) > 60 else ""),
                ]
                for r in review.reads
            ],
            [w * mm for w in (14, 30, 22, 12, 28, 16, 14, 136)],
            small,
        )
    )
    if review.refusals:
        story += [
            Spacer(1, 4 * mm),
            Paragraph(f"Refus ({len(review.refusals)})", styles["Heading2"]),
            _table(
                ["Audit n°", "Quand", "Qui", "Action", "Données", "Raison"],
                [
                    [
                        r["seq"],
                        local(r["at"], "%d/%m/%Y %H:%M:%S"),
                        r["actor"],
                        r["action"],
                        r["details"].get("dataset"),
                        r["details"].get("why") or r["details"].get("purpose"),
                    ]
                    for r in review.refusals
                ],
                [w * mm for w in (14, 30, 30, 30, 40, 128)],
                small,
            ),
        ]
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue()
