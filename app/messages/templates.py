"""Message templates: the ids every playbook offers and filling a playbook's texts.

The texts live in the playbooks (``messages:`` of each ``playbooks/*.yaml``, declared by
:class:`app.playbooks.MessageTemplate` and checked by ``playbooks check``): the risk experts who
write a playbook's checklist write what the population is told. A template gives the French
texts of a draft — a headline, the cell-broadcast text for the population (FR-Alert) and the
instructions, optionally the description — and what CAP says of it (responseType, urgency,
certainty). Texts hold ``{placeholders}`` filled from the event's facts
(:meth:`app.messages.facts.EventFacts.values`).

The ids are a contract (issue 17): ``mise-a-l-abri``, ``evacuation``, ``levee``,
``point-de-situation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..playbooks import PLACEHOLDERS, TEMPLATE_IDS, MessageTemplate, unknown_placeholders
from .records import MessageError

__all__ = [
    "DESCRIPTION",
    "PLACEHOLDERS",
    "TEMPLATE_IDS",
    "TEMPLATE_LABELS",
    "cap_fields",
    "check_id",
    "fill",
    "render",
    "text_for",
    "unknown_placeholders",
]

TEMPLATE_LABELS: dict[str, str] = {
    "mise-a-l-abri": "Mise à l'abri",
    "evacuation": "Évacuation",
    "levee": "Levée de l'alerte",
    "point-de-situation": "Point de situation",
}

# The factual description of every template unless a playbook writes its own.
DESCRIPTION = (
    "{exercice}{guide} — {evenement}, déclaré le {date_declaration} à {heure_declaration}, "
    "{lieu}. Niveau {niveau}. Paramètres : {parametres}. Zones : {zones}. "
    "Communes concernées : {communes_insee}."
)


def check_id(template: object) -> str:
    """The template id, or a refusal naming the known ones."""
    if template not in TEMPLATE_IDS:
        raise MessageError(
            f"Modèle inconnu « {template} » (attendu : {', '.join(TEMPLATE_IDS)}).",
            field="template",
        )
    return str(template)


def text_for(template: str, messages: Mapping[str, MessageTemplate]) -> MessageTemplate:
    """A playbook's template (``messages``: its ``messages:`` key, empty when the event's
    playbook is no longer loaded: the draft is then refused, 409)."""
    check_id(template)
    found = messages.get(template)
    if found is None:
        raise MessageError(
            "Le guide de cet événement n'est plus chargé : ses modèles de messages sont "
            "indisponibles.",
            409,
            "template",
        )
    return found


def cap_fields(t: MessageTemplate) -> dict[str, Any]:
    """What a CAP alert made from the template says of it (kept in the draft's fields)."""
    return {"response": list(t.response), "urgency": t.urgency, "certainty": t.certainty}


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill a template text; an unknown placeholder is refused (the text names it)."""
    unknown = unknown_placeholders(text)
    if unknown:
        raise MessageError(
            f"Espace réservé inconnu dans le modèle : {', '.join(unknown)}.", field="template"
        )
    return " ".join(text.format_map(dict(values)).split())


def fill(
    template: str, messages: Mapping[str, MessageTemplate], values: Mapping[str, str]
) -> dict[str, Any]:
    """The draft fields of a playbook's template filled from the event's values."""
    t = text_for(template, messages)
    return {
        "headline": render(t.headline, values)[:160],
        "cbs": render(t.cbs, values),
        "description": render(t.description or DESCRIPTION, values),
        "instruction": render(t.instruction, values),
        "cap": cap_fields(t),
    }
