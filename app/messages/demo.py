"""The demo partner directory: synthetic entries, labelled FICTIF, whose addresses are in the
reserved ``.example`` and ``.invalid`` domains (RFC 2606): a demo can never mail a real
service. Idempotent (an address already in the directory is skipped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from .partners import add_partner, list_partners
from .records import Partner

SOURCE = "synthetic"


@dataclass
class _DemoLoader:
    """Who writes the demo directory (the audit chain says ``demo``)."""

    id: int = 0
    login: str = "demo"
    name: str = "Chargement de la démonstration"
    roles: frozenset[str] = frozenset({"admin"})


# (organisation, role, e-mail, kinds, drill only)
DEMO_PARTNERS: tuple[tuple[str, str, str, tuple[str, ...], bool], ...] = (
    ("FICTIF — COD de la préfecture de Seine-Maritime", "Centre opérationnel départemental",
     "cod@prefecture-76.example", ("cap", "emsi", "report"), False),
    ("FICTIF — SDIS 76", "CTA-CODIS", "codis@sdis-76.example", ("cap", "emsi"), False),
    ("FICTIF — SAMU 76", "Régulation médicale (hub santé)", "regulation@samu-76.example",
     ("emsi",), False),
    ("FICTIF — Mairie de Port-Jérôme-sur-Seine", "Astreinte du maire",
     "astreinte@mairie-pjss.example", ("cap", "report"), False),
    ("FICTIF — Opérateur FR-Alert (préfecture)", "Diffusion cellulaire",
     "fr-alert@prefecture-76.example", ("cap",), False),
    ("FICTIF — Cellule d'exercice du COD", "Animation de l'exercice",
     "exercice-cod@prefecture-76.invalid", ("cap", "emsi", "report"), True),
    ("FICTIF — SDIS 76 (exercices)", "Cadre d'exercice", "exercice@sdis-76.invalid",
     ("cap", "emsi"), True),
)  # fmt: skip


def demo_partners(db: sqlite_utils.Database, now: datetime) -> list[Partner]:
    """Load the demo directory (idempotent); return the whole directory."""
    known = {(p.email, p.drill_only) for p in list_partners(db)}
    for organisation, role, email, kinds, drill_only in DEMO_PARTNERS:
        if (email, drill_only) in known:
            continue
        add_partner(
            db,
            now,
            organisation=organisation,
            role=role,
            email=email,
            kinds=list(kinds),
            drill_only=drill_only,
            actor=_DemoLoader(),
            source=SOURCE,
        )
    return list_partners(db)
