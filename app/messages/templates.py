"""Default message templates, keyed by the template ids every playbook offers, with per-hazard
variants (toxic release, fire, explosion, gas leak, flood) and a generic fallback.

A template gives the French texts of a draft — a headline, the cell-broadcast text for the
population (FR-Alert), the situation description and the instructions — and what CAP says of it
(responseType, urgency, certainty). Texts hold ``{placeholders}`` filled from the event's facts
(:meth:`app.messages.facts.EventFacts.values`); :func:`unknown_placeholders` checks a text so
that a later playbook-YAML loader can refuse a misspelt one.

The ids are a contract (issue 17): ``mise-a-l-abri``, ``evacuation``, ``levee``,
``point-de-situation``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from .records import MessageError

TEMPLATE_IDS: tuple[str, ...] = ("mise-a-l-abri", "evacuation", "levee", "point-de-situation")
TEMPLATE_LABELS: dict[str, str] = {
    "mise-a-l-abri": "Mise à l'abri",
    "evacuation": "Évacuation",
    "levee": "Levée de l'alerte",
    "point-de-situation": "Point de situation",
}
HAZARDS: tuple[str, ...] = ("toxic", "fire", "explosion", "gas-leak", "flood")
GENERIC = "*"
PLACEHOLDERS: tuple[str, ...] = (
    "evenement",
    "guide",
    "lieu",
    "niveau",
    "date_declaration",
    "heure_declaration",
    "date",
    "heure",
    "zones",
    "communes",
    "communes_insee",
    "parametres",
    "exercice",
)

DESCRIPTION = (
    "{exercice}{guide} — {evenement}, déclaré le {date_declaration} à {heure_declaration}, "
    "{lieu}. Niveau {niveau}. Paramètres : {parametres}. Zones : {zones}. "
    "Communes concernées : {communes_insee}."
)
RADIO = "Écoutez France Bleu Normandie et suivez les consignes des autorités."


@dataclass(frozen=True)
class TemplateText:
    """The texts and CAP attributes of one template for one hazard."""

    headline: str
    cbs: str  # cell-broadcast text for the population
    instruction: str
    response: tuple[str, ...]  # CAP responseType values
    urgency: str = "Immediate"
    certainty: str = "Observed"
    description: str = DESCRIPTION


def _t(headline: str, cbs: str, instruction: str, *response: str, **kw: str) -> TemplateText:
    return TemplateText(headline, cbs, instruction, tuple(response), **kw)


DEFAULT_TEXTS: dict[str, dict[str, TemplateText]] = {
    "mise-a-l-abri": {
        GENERIC: _t(
            "{exercice}Mise à l'abri immédiate — {guide}, {lieu}",
            "{exercice}ALERTE {guide} à {lieu}. Communes : {communes}. Mettez-vous à l'abri "
            "dans le bâtiment le plus proche, fermez portes et fenêtres. N'allez pas chercher "
            "vos enfants à l'école. Écoutez la radio.",
            "Rejoignez sans délai le bâtiment le plus proche et restez-y. Fermez portes et "
            "fenêtres. N'allez pas chercher vos enfants à l'école : les enseignants les "
            "protègent. Ne téléphonez qu'en cas d'urgence vitale (15, 18, 112). " + RADIO,
            "Shelter",
        ),
        "toxic": _t(
            "{exercice}Nuage toxique : mise à l'abri immédiate — {lieu}",
            "{exercice}ALERTE NUAGE TOXIQUE à {lieu}. Communes : {communes}. Rejoignez "
            "immédiatement un bâtiment clos. Fermez portes et fenêtres, arrêtez ventilation et "
            "climatisation. N'allez pas chercher vos enfants à l'école. Ne téléphonez qu'en cas "
            "d'urgence. Écoutez la radio.",
            "Rejoignez sans délai le bâtiment le plus proche et restez-y. Fermez portes et "
            "fenêtres, bouchez les aérations, arrêtez ventilation, chauffage et climatisation. "
            "Ne fumez pas, ne provoquez ni flamme ni étincelle. N'allez pas chercher vos enfants "
            "à l'école : les enseignants les mettent à l'abri. Ne sortez pas pour voir le nuage. "
            "Ne téléphonez qu'en cas d'urgence vitale (15, 18, 112). " + RADIO,
            "Shelter",
        ),
        "fire": _t(
            "{exercice}Incendie industriel : restez à l'abri des fumées — {lieu}",
            "{exercice}ALERTE INCENDIE INDUSTRIEL à {lieu}. Communes : {communes}. Restez à "
            "l'intérieur, fermez portes et fenêtres, arrêtez la ventilation. Ne vous approchez "
            "pas du site. Écoutez la radio.",
            "Restez à l'intérieur, fermez portes et fenêtres et arrêtez la ventilation tant que "
            "les fumées passent. Ne vous approchez pas du site et dégagez les accès pour les "
            "secours. Ne consommez pas les fruits et légumes du jardin exposés aux fumées avant "
            "avis des autorités. " + RADIO,
            "Shelter",
            "Avoid",
        ),
        "explosion": _t(
            "{exercice}Explosion : mise à l'abri immédiate — {lieu}",
            "{exercice}ALERTE EXPLOSION à {lieu}. Communes : {communes}. Restez à l'intérieur, "
            "éloignez-vous des fenêtres et des vitres. Ne vous approchez pas du site : risque "
            "de nouvelle explosion. Écoutez la radio.",
            "Restez à l'intérieur, dans une pièce sans vitrage ou loin des fenêtres. Ne vous "
            "approchez pas du site : une nouvelle explosion est possible. Ne touchez pas aux "
            "débris. Signalez les blessés au 15 ou au 112. " + RADIO,
            "Shelter",
            "Avoid",
        ),
        "gas-leak": _t(
            "{exercice}Fuite de gaz : restez à l'abri, aucune flamme — {lieu}",
            "{exercice}ALERTE FUITE DE GAZ à {lieu}. Communes : {communes}. Restez à "
            "l'intérieur, fermez portes et fenêtres. Aucune flamme, ne fumez pas, n'actionnez "
            "aucun interrupteur. Ne vous approchez pas. Écoutez la radio.",
            "Restez à l'intérieur, fermez portes et fenêtres. Ne provoquez ni flamme ni "
            "étincelle : ne fumez pas, n'actionnez ni interrupteur ni appareil électrique, ne "
            "démarrez pas de véhicule dans le périmètre. Ne vous approchez pas de la fuite. "
            + RADIO,
            "Shelter",
            "Avoid",
        ),
        "flood": _t(
            "{exercice}Crue de la Seine : mettez-vous à l'abri en hauteur",
            "{exercice}ALERTE CRUE DE LA SEINE. Communes : {communes}. Montez dans les étages, "
            "ne descendez pas dans les caves ni les parkings souterrains, ne circulez pas sur "
            "les routes inondées. Écoutez la radio.",
            "Montez dans les étages avec de l'eau, vos papiers et vos médicaments. Coupez gaz et "
            "électricité si l'eau approche. Ne descendez pas dans les caves ni les parkings "
            "souterrains. Ne circulez ni à pied ni en voiture sur une route inondée. " + RADIO,
            "Shelter",
            certainty="Likely",
        ),
    },
    "evacuation": {
        GENERIC: _t(
            "{exercice}Évacuation ordonnée — {guide}, {lieu}",
            "{exercice}ORDRE D'ÉVACUATION — {guide} à {lieu}. Communes : {communes}. Quittez "
            "la zone dès maintenant en suivant les consignes des secours. Emportez papiers et "
            "médicaments. Écoutez la radio.",
            "Quittez la zone dès maintenant en suivant les itinéraires et les consignes des "
            "secours. Emportez vos papiers, vos médicaments et de quoi vous couvrir. Fermez "
            "votre logement. Signalez en mairie les personnes qui ne peuvent pas partir seules. "
            + RADIO,
            "Evacuate",
        ),
        "toxic": _t(
            "{exercice}Nuage toxique : évacuation ordonnée — {lieu}",
            "{exercice}ORDRE D'ÉVACUATION — NUAGE TOXIQUE à {lieu}. Communes : {communes}. "
            "Quittez la zone en suivant les consignes des secours, en vous éloignant du nuage. "
            "Emportez papiers et médicaments. Écoutez la radio.",
            "Quittez la zone dès maintenant, par les itinéraires que donnent les secours, en "
            "vous éloignant du nuage, jamais à travers. Emportez papiers et médicaments. "
            "Signalez en mairie les personnes qui ne peuvent pas partir seules. " + RADIO,
            "Evacuate",
        ),
        "fire": _t(
            "{exercice}Incendie industriel : évacuation ordonnée — {lieu}",
            "{exercice}ORDRE D'ÉVACUATION — INCENDIE à {lieu}. Communes : {communes}. Quittez "
            "la zone en suivant les consignes des secours, à l'opposé des fumées. Emportez "
            "papiers et médicaments. Écoutez la radio.",
            "Quittez la zone dès maintenant, à l'opposé des fumées, par les itinéraires que "
            "donnent les secours. Dégagez les accès pour les engins de secours. Emportez papiers "
            "et médicaments. " + RADIO,
            "Evacuate",
        ),
        "explosion": _t(
            "{exercice}Explosion : évacuation ordonnée — {lieu}",
            "{exercice}ORDRE D'ÉVACUATION — EXPLOSION à {lieu}. Communes : {communes}. Quittez "
            "la zone en suivant les consignes des secours, sans passer près du site. Emportez "
            "papiers et médicaments. Écoutez la radio.",
            "Quittez la zone dès maintenant sans passer près du site, par les itinéraires que "
            "donnent les secours : une nouvelle explosion est possible. Emportez papiers et "
            "médicaments. " + RADIO,
            "Evacuate",
        ),
        "gas-leak": _t(
            "{exercice}Fuite de gaz : évacuation ordonnée — {lieu}",
            "{exercice}ORDRE D'ÉVACUATION — FUITE DE GAZ à {lieu}. Communes : {communes}. "
            "Partez à pied en vous éloignant de la fuite. Aucune flamme, n'actionnez aucun "
            "interrupteur, ne démarrez pas de véhicule. Écoutez la radio.",
            "Partez à pied en vous éloignant de la fuite, par les itinéraires que donnent les "
            "secours. Ne provoquez ni flamme ni étincelle : n'actionnez aucun interrupteur, ne "
            "démarrez pas de véhicule dans le périmètre. Laissez portes et fenêtres ouvertes. "
            + RADIO,
            "Evacuate",
        ),
        "flood": _t(
            "{exercice}Crue de la Seine : évacuation préventive — {communes}",
            "{exercice}ÉVACUATION PRÉVENTIVE — CRUE DE LA SEINE. Communes : {communes}. "
            "Coupez gaz et électricité, emportez papiers et médicaments, rejoignez le centre "
            "d'accueil indiqué par votre mairie. Écoutez la radio.",
            "Avant de partir, coupez gaz, électricité et eau, montez vos biens à l'étage. "
            "Emportez papiers, médicaments et vêtements chauds. Rejoignez le centre d'accueil "
            "indiqué par votre mairie. Signalez les personnes qui ne peuvent pas partir seules. "
            + RADIO,
            "Evacuate",
            urgency="Expected",
            certainty="Likely",
        ),
    },
    "levee": {
        GENERIC: _t(
            "{exercice}Fin de l'alerte — {guide}, {lieu}",
            "{exercice}FIN D'ALERTE — {guide} à {lieu}. Communes : {communes}. Le danger est "
            "écarté : vous pouvez reprendre vos activités. Suivez les consignes des autorités.",
            "Le danger est écarté : vous pouvez sortir et reprendre vos activités. " + RADIO,
            "AllClear",
            urgency="Past",
        ),
        "toxic": _t(
            "{exercice}Nuage toxique : fin de l'alerte — {lieu}",
            "{exercice}FIN D'ALERTE — NUAGE TOXIQUE à {lieu}. Communes : {communes}. Vous "
            "pouvez sortir. Aérez largement votre logement. Signalez tout malaise au 15.",
            "Vous pouvez sortir. Aérez largement votre logement et remettez la ventilation en "
            "marche. En cas de malaise, d'irritation des yeux ou de la gorge, appelez le 15. "
            + RADIO,
            "AllClear",
            urgency="Past",
        ),
        "fire": _t(
            "{exercice}Incendie industriel : fin de l'alerte — {lieu}",
            "{exercice}FIN D'ALERTE — INCENDIE à {lieu}. Communes : {communes}. Vous pouvez "
            "sortir et aérer. Ne consommez pas les légumes du jardin avant avis des autorités.",
            "Vous pouvez sortir et aérer votre logement. Ne consommez pas les fruits et légumes "
            "du jardin exposés aux fumées avant l'avis des autorités sanitaires. " + RADIO,
            "AllClear",
            urgency="Past",
        ),
        "flood": _t(
            "{exercice}Crue de la Seine : fin de l'alerte",
            "{exercice}FIN D'ALERTE — CRUE DE LA SEINE. Communes : {communes}. La décrue est "
            "engagée. Ne regagnez votre logement qu'avec l'accord de votre mairie.",
            "La décrue est engagée. Ne regagnez votre logement qu'avec l'accord de votre mairie. "
            "Ne rétablissez pas l'électricité vous-même dans un logement inondé. " + RADIO,
            "AllClear",
            urgency="Past",
        ),
    },
    "point-de-situation": {
        GENERIC: _t(
            "{exercice}Point de situation du {date} à {heure} — {evenement}",
            "{exercice}POINT DE SITUATION {heure} — {guide} à {lieu}. Communes : {communes}. "
            "Les consignes en vigueur restent applicables. Écoutez la radio.",
            "Les consignes déjà données restent applicables jusqu'à nouvel ordre. " + RADIO,
            "Monitor",
            urgency="Expected",
        ),
    },
}


def text_for(template: str, hazard: str) -> TemplateText:
    """The texts of a template for a hazard (the generic variant when it has none)."""
    if template not in DEFAULT_TEXTS:
        raise MessageError(
            f"Modèle inconnu « {template} » (attendu : {', '.join(TEMPLATE_IDS)}).",
            field="template",
        )
    variants = DEFAULT_TEXTS[template]
    return variants.get(hazard) or variants[GENERIC]


def unknown_placeholders(text: str) -> list[str]:
    """Placeholders of ``text`` that are not in :data:`PLACEHOLDERS` (or malformed ones)."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return [str(exc)]
    return [n for n in names if n not in PLACEHOLDERS]


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill a template text; an unknown placeholder is refused (the text names it)."""
    unknown = unknown_placeholders(text)
    if unknown:
        raise MessageError(
            f"Espace réservé inconnu dans le modèle : {', '.join(unknown)}.", field="template"
        )
    return " ".join(text.format_map(dict(values)).split())


def fill(template: str, hazard: str, values: Mapping[str, str]) -> dict[str, str]:
    """The draft fields of a template filled from the event's values."""
    t = text_for(template, hazard)
    return {
        "headline": render(t.headline, values)[:160],
        "cbs": render(t.cbs, values),
        "description": render(t.description, values),
        "instruction": render(t.instruction, values),
    }
