"""The owner review as a PDF (reportlab) a steward reads like a letter: the verdict and a
summary first, each grant with its holder, state and usage, the proofs; every read in an annex."""

from __future__ import annotations

from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import CondPageBreak, KeepTogether, PageBreak, Paragraph, Spacer

from .. import fr
from ..clock import local
from ..pdf import Markings, document, esc, header_footer, key_values, para, styles, table
from .policy import REASON_CODES
from .readable import GrantReview, ReadableReview, summary_lines
from .verdicts import Verdict

MARGIN = 40.0


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


def _ids(ids: list[str], limit: int = 120) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" … (+{len(ids) - limit})" if len(ids) > limit else "")


def _verdict_block(doc: ReadableReview, verdict: Verdict | None, st: dict[str, Any]) -> list[Any]:
    if verdict is None:
        text = "Pas encore de verdict du propriétaire" + (
            "." if doc.event.closed_at else " (événement en cours)."
        )
        return [para(text, st["h2"])]
    colour = "#2e7d32" if verdict.verdict == "conforme" else "#c00000"
    out: list[Any] = [
        Paragraph(
            f"<font color='{colour}'>Verdict du propriétaire : {esc(verdict.label.upper())}</font>",
            st["h1"],
        ),
        para(f"Signé par {verdict.by_name} le {local(verdict.at)}.", st["base"]),
    ]
    if verdict.content_sha256 != doc.content_sha256:
        out.append(
            para(
                "Ce verdict porte sur une version antérieure de la revue : des accès ou des"
                " lectures ont été ajoutés depuis.",
                st["base"],
            )
        )
    if verdict.comment:
        out.append(para(f"Commentaire : « {verdict.comment} »", st["base"]))
    if verdict.answer:
        out.append(
            para(
                f"Réponse de {verdict.answer.by_name} le {local(verdict.answer.at)} :"
                f" « {verdict.answer.text} »",
                st["base"],
            )
        )
    elif verdict.contested:
        out.append(para("En attente de la réponse d'un directeur des opérations.", st["base"]))
    return out


def _grant_block(g: GrantReview, st: dict[str, Any]) -> list[Any]:
    when = (
        f"ouvert du {local(g.opened_at)} au {local(g.closed_at) if g.closed_at else 'maintenant'}"
        f" ({g.time_open})"
        if g.opened_at
        else f"demandé le {local(g.grant.requested_at)}, jamais ouvert"
    )
    facts = [
        ("Titulaire", f"{g.holder.name}, {g.holder.function} ({g.holder.organisation})"),
        (
            "Pourquoi",
            f"{REASON_CODES.get(g.grant.reason_code, g.grant.reason_code)} —"
            f" « {g.grant.justification} »",
        ),
        ("Quand", when),
        ("Approuvé par", g.approval),
        ("État", g.state),
        ("Convention", f"{g.grant.agreement_key}, version {g.grant.agreement_version}"),
        ("Objets vus", fr.count(g.features_seen, "objet distinct", "objets distincts")),
    ]
    out: list[Any] = [
        para(f"Accès n° {g.grant.id} — {g.grant.dataset_title}", st["h2"]),
        key_values(facts, [85, 430], st["cellb"], st["cell"]),
    ]
    if g.usage:
        out.append(Spacer(1, 3))
        out.append(
            table(
                [
                    ["Qui", "Usage", "Lectures", "Objets", "Première", "Dernière"],
                    *[
                        [
                            u["user"]["name"],
                            u["usage"],
                            fr.integer(u["reads"]),
                            fr.integer(u["features"]),
                            local(u["first_at"], "%d/%m %H:%M"),
                            local(u["last_at"], "%d/%m %H:%M"),
                        ]
                        for u in g.usage
                    ],
                ],
                [105, 190, 45, 45, 65, 65],
                long=False,
                align_right=(2, 3),
            )
        )
    else:
        out.append(para("Aucune lecture sous cet accès.", st["muted"]))
    out.append(Spacer(1, 6))
    return [KeepTogether(out[:3]), *out[3:]]


def review_pdf(doc: ReadableReview, verdict: Verdict | None = None) -> bytes:
    """The review as PDF bytes (A4 portrait), DIFFUSION RESTREINTE (and EXERCICE for a drill):
    the verdict and a summary first, each grant, the proofs; the per-read list in an annex."""
    st = styles()
    ev = doc.event
    org = doc.org
    markings = Markings(drill=ev.is_drill, classification="DIFFUSION RESTREINTE")
    title = f"Revue des accès — {org['name']}"
    generated = doc.review.generated_at

    def decorate(c: Canvas, page: int, total: int) -> None:
        header_footer(
            c,
            page,
            total,
            size=A4,
            margin=MARGIN,
            left=f"{title} — événement n° {ev.id}",
            stamp=f"Revue générée le {local(generated)} — crisis-console",
            markings=markings,
        )

    story: list[Any] = []
    if ev.is_drill:
        story += [Paragraph("EXERCICE — EXERCICE — EXERCICE", st["mark"]), Spacer(1, 4)]
    story += [
        para("Revue des accès à vos données", st["title"]),
        para(org["name"], st["subtitle"]),
        Spacer(1, 4),
        para(
            f"Événement « {ev.title} » (n° {ev.id}), déclaré le {local(ev.declared_at)}"
            + (f", clos le {local(ev.closed_at)}." if ev.closed_at else ", toujours en cours."),
            st["base"],
        ),
        Spacer(1, 4),
        *_verdict_block(doc, verdict, st),
        para("En bref", st["h1"]),
        key_values(summary_lines(doc), [95, 420], st["cellb"], st["cell"]),
        para(f"Accès accordés ({len(doc.grants)})", st["h1"]),
    ]
    for g in doc.grants:
        story += _grant_block(g, st)
    if not doc.grants:
        story.append(para("Aucun accès à vos données pour cet événement.", st["muted"]))
    if doc.other_usage:
        story += [
            CondPageBreak(100),
            para("Lectures hors des accès listés", st["h1"]),
            _table(
                ["Qui", "Usage", "Lectures", "Objets"],
                [
                    [f"{u['user']['name']}, {u['user']['function']}", u["usage"], u["reads"],
                     u["features"]]
                    for u in doc.other_usage
                ],
                [170, 245, 50, 50],
            ),
        ]  # fmt: skip
    review = doc.review
    if review.changes:
        story += [
            CondPageBreak(120),
            para(f"Changements enregistrés par la cellule ({len(review.changes)})", st["h1"]),
            para("Campagne d'appels : identifiants et statuts, sans champ personnel.", st["small"]),
            _table(
                ["Audit n°", "Quand", "Qui", "Changement", "Personnes", "Détail"],
                [
                    [
                        r["seq"],
                        local(r["at"], "%d/%m %H:%M:%S"),
                        c["user"]["name"],
                        CHANGE_LABELS.get(r["action"], r["action"]),
                        r["details"].get("person")
                        or ", ".join(map(str, r["details"].get("ids", [])[:30])),
                        change_detail(r["details"]),
                    ]
                    for r, c in zip(review.changes, doc.changes, strict=True)
                ],
                [36, 56, 70, 75, 200, 78],
            ),
        ]
    if doc.refusals:
        story += [
            CondPageBreak(100),
            para(f"Tentatives refusées ({len(doc.refusals)})", st["h1"]),
            _table(
                ["Audit n°", "Quand", "Qui", "Données", "Raison"],
                [
                    [
                        r["seq"],
                        local(r["at"], "%d/%m %H:%M:%S"),
                        f"{r['user']['name']}, {r['user']['function']}",
                        review.datasets.get(r["dataset"] or "", {}).get("title", r["dataset"]),
                        r["why"],
                    ]
                    for r in doc.refusals
                ],
                [40, 65, 170, 120, 120],
            ),
        ]
    cp = doc.checkpoint
    seqs = review.audit_seqs
    story += [
        CondPageBreak(120),
        para("Preuves", st["h1"]),
        key_values(
            [
                ("Empreinte de la revue", f"SHA-256 du JSON canonique : {doc.content_sha256}"),
                (
                    "Enregistrements couverts",
                    fr.count(len(seqs), "enregistrement d'audit", "enregistrements d'audit")
                    + (f" (n° {seqs[0]} à {seqs[-1]})" if seqs else ""),
                ),
                ("Tête du journal", f"n° {review.head_seq} — {review.head_hash}"),
                (
                    "Point de contrôle",
                    f"n° {cp['seq']} du {local(cp['signed_at'])} (clé {cp['key_id']}) —"
                    f" {cp['hash']}"
                    if cp
                    else "aucun point de contrôle signé ne couvre encore tous ces enregistrements",
                ),
                (
                    "Point de contrôle détenu",
                    f"n° {review.held.seq} — {review.held.checkpoint.hash}, remis à"
                    f" {review.org['name']} le {local(review.held.created_at)} (à vérifier :"
                    " crisis-console audit verify --checkpoint FICHIER)"
                    if review.held
                    else f"{review.org['name']} ne détient encore aucun point de contrôle",
                ),
            ],
            [95, 420],
            st["cellb"],
            st["cell"],
        ),
        para(
            "L'empreinte se recalcule à partir de la version JSON de la revue"
            " (GET /api/v1/events/<id>/review) ; comparez la tête du journal à vos points de"
            " contrôle.",
            st["small"],
        ),
        PageBreak(),
        para(f"Annexe — liste détaillée des lectures ({len(doc.reads)})", st["h1"]),
        _table(
            ["Audit n°", "Quand", "Qui", "Accès", "Données", "Usage", "Objets", "Identifiants"],
            [
                [
                    r["seq"],
                    local(r["at"], "%d/%m %H:%M:%S"),
                    r["user"]["name"],
                    r["grant"],
                    review.datasets.get(r["dataset"] or "", {}).get("title", r["dataset"]),
                    r["usage"],
                    r["count"],
                    _ids(r["ids"]),
                ]
                for r in doc.reads
            ],
            [34, 50, 60, 32, 62, 66, 34, 177],
        ),
    ]
    return document(
        story,
        decorate,
        title=title,
        author="crisis-console",
        subject="Revue des accès (DIFFUSION RESTREINTE)",
        size=A4,
        margins=(MARGIN, MARGIN + 12, MARGIN, MARGIN + 4),
    )
