"""The after-action report (RETEX) as an A4 PDF, marked EXERCICE throughout (the PDF kit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Spacer

from .. import auth
from ..clock import local
from ..pdf import document, exercise_bands, key_values, para, styles, table
from ..playbooks import CASUALTY_KEYS
from .play import CASUALTY_LABELS, TITLE_PREFIX
from .retex import AfterAction, format_minutes


def after_action_pdf(report: AfterAction, now: datetime) -> bytes:
    """The after-action report as an A4 PDF: EXERCICE in every header, footer and watermark."""
    st = styles()
    e = report.event
    d = report.drill
    width = A4[0] - 30 * mm

    def grid(header: list[str], data: list[list[Any]], widths: list[float]) -> Any:
        return table([header, *data], [w * width for w in widths])

    def hm(stamp: str | None) -> str:
        return local(stamp, "%H:%M") if stamp else "—"

    story: list[Any] = [
        para("EXERCICE — EXERCICE — EXERCICE", st["banner"]),
        para("Rapport de fin d'exercice (RETEX)", st["title"]),
        para(e.title, st["subtitle"]),
        Spacer(1, 4),
    ]
    duration = d.scenario_seconds(now) / 60
    facts: list[tuple[str, Any]] = [
        ("Scénario", report.scenario_title),
        ("Lieu", e.place),
        ("Début", local(d.started_at)),
        ("Fin", f"{local(d.ended_at)} — {d.state_label}" if d.ended_at else d.state_label),
        ("Temps de scénario joué", format_minutes(duration)),
        ("Directeur d'exercice", d.started_by_name),
        ("Niveau final", str(e.level)),
    ]
    if report.casualties:
        c = report.casualties
        facts.append(
            (
                "Dernier bilan des victimes",
                ", ".join(
                    f"{c[k]} {CASUALTY_LABELS[k]}" for k in CASUALTY_KEYS if c.get(k) is not None
                ),
            )
        )
    story.append(key_values(facts, [0.28 * width, 0.72 * width], st["cellb"], st["cell"]))
    for note in report.notes:
        story.append(para(note, st["base"]))

    story.append(para("Délais mesurés", st["h1"]))
    story.append(
        grid(
            ["Délai", "De", "À", "Durée"],
            [
                [x.label, hm(x.start_at), hm(x.end_at), format_minutes(x.minutes)]
                for x in report.delays
            ],
            [0.55, 0.13, 0.13, 0.19],
        )
    )

    story.append(para("Injects et réponses des joueurs", st["h1"]))
    outcome_fr = {"fired": "joué", "skipped": "non nécessaire", "not_played": "non joué"}
    story.append(
        grid(
            ["H+", "Inject", "Pour", "Action attendue", "Joué", "Traité", "Délai"],
            [
                [
                    f"{i.offset_min} min",
                    f"{i.title}" + (" (relance)" if i.backup_for else ""),
                    auth.ROLES.get(i.to_role, i.to_role),
                    i.expected_action or "—",
                    hm(i.fired_at) if i.outcome == "fired" else outcome_fr[i.outcome],
                    (
                        f"{hm(i.acknowledged_at)} ({i.acknowledged_by})"
                        if i.acknowledged_at
                        else "non"
                    ),
                    format_minutes(i.response_min),
                ]
                for i in report.injects
            ]
            or [["—", "aucun inject", "", "", "", "", ""]],
            [0.07, 0.22, 0.1, 0.33, 0.09, 0.12, 0.07],
        )
    )

    story.append(para("Liste d'actions : échéances", st["h1"]))
    story.append(
        grid(
            ["Action", "Rôle", "Échéance", "Réalisée", "Écart", "Statut"],
            [
                [
                    c.title,
                    auth.ROLES.get(c.role, c.role),
                    hm(c.due_at),
                    f"{hm(c.done_at)}" + (f" ({c.done_by})" if c.done_by else "")
                    if c.done_at
                    else "—",
                    ("+" if (c.gap_min or 0) > 0 else "") + format_minutes(c.gap_min)
                    if c.gap_min is not None
                    else "—",
                    c.status,
                ]
                for c in report.checklist
            ]
            or [["aucune action", "", "", "", "", ""]],
            [0.42, 0.12, 0.1, 0.16, 0.1, 0.1],
        )
    )

    story.append(para("Accès aux données ouverts (bris de glace)", st["h1"]))
    if report.grants:
        story.append(
            grid(
                ["Données", "Qui", "Convention", "Demandé", "Ouvert", "État", "Justification"],
                [
                    [
                        g["dataset_title"],
                        g["user_name"],
                        f"{g['agreement_key']} v{g['agreement_version']}"
                        + (" (exercices autorisés)" if g["drills_allowed"] else ""),
                        hm(g["requested_at"]),
                        hm(g["activated_at"]),
                        g["state"],
                        g["justification"],
                    ]
                    for g in report.grants
                ],
                [0.16, 0.14, 0.16, 0.08, 0.08, 0.08, 0.30],
            )
        )
    else:
        story.append(para("Aucun accès aux données protégées n'a été ouvert.", st["base"]))

    story.append(para("Ce qui a bien fonctionné", st["h1"]))
    story.append(para(d.went_well or "(à compléter par le directeur d'exercice)", st["base"]))
    story.append(para("Ce qui est à améliorer", st["h1"]))
    story.append(para(d.to_improve or "(à compléter par le directeur d'exercice)", st["base"]))

    story.append(para("Chronologie", st["h1"]))
    story.append(
        grid(
            ["Heure", "Type", "Fait", "Par"],
            [[hm(x.at), x.kind_label, x.text, x.author] for x in report.timeline],
            [0.08, 0.13, 0.61, 0.18],
        )
    )
    story.append(Spacer(1, 6))
    story.append(
        KeepTogether(
            [para(f"Rapport généré le {local(now)} par la console de crise.", st["small"])]
        )
    )

    header = "EXERCICE — Rapport de fin d'exercice (RETEX) — " + e.title.removeprefix(TITLE_PREFIX)

    def decorate(c: Any, page: int, total: int) -> None:
        exercise_bands(c, page, total, size=A4, header=header)

    return document(
        story,
        decorate,
        title=f"EXERCICE — RETEX — {e.title}",
        author="Console de crise — Caux Seine Agglomération",
        subject="Rapport de fin d'exercice",
        margins=(15 * mm, 18 * mm, 15 * mm, 16 * mm),
    )
