"""Agreements that stay alive: where each stands against its review date, its versions, and what
changed from one version to the next, in words a steward reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from .. import auth
from ..clock import local, parse_iso
from ..db import rows
from ..records import AGREEMENT_SQL, Agreement, agreement_from_row
from .policy import LAPSE_RULES

REMIND_BEFORE = timedelta(days=30)

APPROVAL_WORDS = {
    "none": "aucune (notification au propriétaire)",
    "second_person": "second directeur",
}
SCOPE_WORDS = {"zone": "zone de l'événement", "territory": "tout le territoire"}


@dataclass(frozen=True)
class Renewal:
    """Where an agreement version stands: a code, a French label, and whether to act."""

    code: str  # en_vigueur, revue_proche, a_renouveler, echue, remplacee, retiree
    label: str
    urgent: bool = False

    @property
    def short(self) -> str:
        """A few words for a table cell (the dates are in their own columns)."""
        return SHORT[self.code]


SHORT = {
    "en_vigueur": "en vigueur",
    "revue_proche": "revue proche",
    "a_renouveler": "à renouveler",
    "echue": "échue",
    "remplacee": "remplacée",
    "retiree": "retirée",
}


def renewal(a: Agreement, now: datetime, remind_before: timedelta = REMIND_BEFORE) -> Renewal:
    """The agreement's renewal state at ``now``."""
    if a.status == "superseded":
        return Renewal("remplacee", "remplacée par une version plus récente")
    if a.status == "withdrawn":
        return Renewal("retiree", f"retirée le {local(a.withdrawn_at, '%d/%m/%Y')}")
    if a.valid_to and parse_iso(a.valid_to) <= now:
        return Renewal("echue", f"échue le {local(a.valid_to, '%d/%m/%Y')}", True)
    if a.lapsed(now):
        stop = " — n'ouvre plus de nouvel accès" if a.on_lapse == "stop" else ""
        return Renewal(
            "a_renouveler",
            f"à renouveler (revue prévue le {local(a.review_at, '%d/%m/%Y')}){stop}",
            True,
        )
    if a.review_at and parse_iso(a.review_at) - now <= remind_before:
        return Renewal("revue_proche", f"revue le {local(a.review_at, '%d/%m/%Y')}", True)
    review = f", revue le {local(a.review_at, '%d/%m/%Y')}" if a.review_at else ""
    return Renewal("en_vigueur", f"en vigueur{review}")


def versions(db: sqlite_utils.Database, key: str) -> list[Agreement]:
    """Every version of the agreement ``key``, oldest first."""
    found = rows(db, AGREEMENT_SQL + " WHERE a.agreement_key = ? ORDER BY a.version", [key])
    return [agreement_from_row(r) for r in found]


def _words(term: str, value: Any) -> str:
    if term == "roles":
        return ", ".join(auth.ROLES.get(r, r) for r in value) or "aucun"
    if term == "event_kinds":
        return "tous" if "*" in value else ", ".join(value)
    if term == "fields":
        return ", ".join(value) or "identifiant seul"
    if term == "drills_allowed":
        return "oui" if value else "non"
    if term == "max_duration_min":
        return f"{value} min"
    if term == "approval":
        return APPROVAL_WORDS.get(value, value)
    if term == "scope":
        return SCOPE_WORDS.get(value, value)
    if term == "margin_m":
        return f"{int(value)} m"
    if term in ("valid_from", "valid_to", "review_at"):
        return local(value, "%d/%m/%Y") if value else "sans fin"
    if term == "on_lapse":
        return LAPSE_RULES.get(value, value)
    return str(value)


TERMS: dict[str, str] = {
    "roles": "Rôles autorisés",
    "event_kinds": "Types d'événement",
    "drills_allowed": "Exercices",
    "max_duration_min": "Durée maximale",
    "approval": "Approbation",
    "scope": "Périmètre",
    "margin_m": "Marge autour de la zone",
    "fields": "Champs visibles",
    "valid_from": "Valable du",
    "valid_to": "Valable jusqu'au",
    "review_at": "Date de revue",
    "on_lapse": "À la date de revue",
}


def diff(old: Agreement, new: Agreement) -> list[tuple[str, str, str]]:
    """What changed from ``old`` to ``new``: (term, before, after) in words, in TERMS order."""
    out = []
    for term, label in TERMS.items():
        before, after = getattr(old, term), getattr(new, term)
        if term in ("roles", "event_kinds"):
            before, after = sorted(before), sorted(after)
        # Compared as a steward reads them: a date re-entered at midnight is the same date.
        words = (_words(term, before), _words(term, after))
        if words[0] != words[1]:
            out.append((label, *words))
    return out


def terms(a: Agreement) -> list[tuple[str, str]]:
    """Every term of one version, in words (the first version's "diff")."""
    return [(label, _words(term, getattr(a, term))) for term, label in TERMS.items()]
