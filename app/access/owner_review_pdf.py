"""The owner review as a PDF (reportlab): every grant and every read of an organisation's data."""

from __future__ import annotations

from typing import Any

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Spacer

from ..clock import local, parse_iso
from ..pdf import Markings, document, header_footer, para, styles, table
from ..records import STATUS_LABELS
from .policy import REASON_CODES
from .review import Review

MARGIN = 12 * mm


CHANGE_LABELS = {
    "call.listed": "mis sur la liste d'appels",
    "call.status": "statut d'appel",
    "call.assigned": "appel confié",
}


def change_detail(details: dict[str, Any]) -> str:
    """A change of the call campaign in words (statuses are the cell's, no personal field)."""
    if "to" in details:
        return f"{details.get('from')} → {details.get('to')}" + (
            " (avec note)" if details.get("note_sha256") else ""
        )
    if "assignee" in details:
        return f"à {details.get('assignee') or 'personne'}"
    return f"{details.get('count', '')} personnes"


def _table(head: list[str], body: list[list[Any]], widths: list[float]) -> Any:
    cells = [["—" if c is None or c == "" else str(c) for c in line] for line in body]
    return table([head, *cells], widths)


def review_pdf(review: Review) -> bytes:
    """The review as PDF bytes, marked DIFFUSION RESTREINTE (and EXERCICE for a drill)."""
    st = styles()
    page_size = landscape(A4)
    markings = Markings(drill=review.event.is_drill, classification="DIFFUSION RESTREINTE")
    title = f"Revue des accès — {review.org['name']}"

    def decorate(c: Canvas, page: int, total: int) -> None:
        header_footer(
            c,
            page,
            total,
            size=page_size,
            margin=MARGIN,
            left=f"{title} — événement n° {review.event.id}",
            stamp=f"Revue générée le {local(review.generated_at)} — crisis-console",
            markings=markings,
        )

    ev = review.event
    story: list[Any] = [
        para(title, st["title"]),
        para(
            f"Événement n° {ev.id} : {ev.title} — déclaré le {local(ev.declared_at)}"
            + (f", clos le {local(ev.closed_at)}" if ev.closed_at else ", en cours"),
            st["base"],
        ),
        para(f"Revue générée le {local(review.generated_at)}.", st["base"]),
        para(
            f"Tête du journal d'audit : n° {review.head_seq} — {review.head_hash}",
            st["base"],
        ),
        para(
            (
                f"Dernier point de contrôle signé : n° {review.checkpoint['seq']} —"
                f" {review.checkpoint['hash']} ({local(review.checkpoint['signed_at'])},"
                f" clé {review.checkpoint['key_id']})"
            )
            if review.checkpoint
            else "Aucun point de contrôle signé.",
            st["base"],
        ),
        Spacer(1, 4 * mm),
        para(f"Accès accordés ({len(review.grants)})", st["h1"]),
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
        )
    )
    story += [Spacer(1, 4 * mm), para(f"Lectures ({len(review.reads)})", st["h1"])]
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
        )
    )
    if review.changes:
        story += [
            Spacer(1, 4 * mm),
            para(f"Changements enregistrés par la cellule ({len(review.changes)})", st["h1"]),
            _table(
                ["Audit n°", "Quand", "Qui", "Changement", "Personnes", "Détail"],
                [
                    [
                        r["seq"],
                        local(r["at"], "%d/%m/%Y %H:%M:%S"),
                        r["actor"],
                        CHANGE_LABELS.get(r["action"], r["action"]),
                        r["details"].get("person")
                        or ", ".join(map(str, r["details"].get("ids", [])[:30])),
                        change_detail(r["details"]),
                    ]
                    for r in review.changes
                ],
                [w * mm for w in (14, 30, 22, 34, 80, 92)],
            ),
        ]
    if review.refusals:
        story += [
            Spacer(1, 4 * mm),
            para(f"Refus ({len(review.refusals)})", st["h1"]),
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
            ),
        ]
    return document(
        story,
        decorate,
        title=title,
        author="crisis-console",
        subject="Revue des accès (DIFFUSION RESTREINTE)",
        size=page_size,
        margins=(MARGIN, MARGIN + 12, MARGIN, MARGIN + 4),
    )
