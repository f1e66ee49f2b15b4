"""What a playbook and a drill scenario are, once validated, and the event parameters they declare.

A playbook says, for one kind of risk, which parameters the cell enters, which zones are drawn,
which datasets are worth opening and which checklist the cell follows. A scenario scripts a drill
on top of a playbook: a starting situation and injects fired at offsets. Messages about event
parameters (shown to the crisis cell by ``Playbook.validate_params``) are in French.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import fr

ROLES: frozenset[str] = frozenset({"director", "cell", "liaison", "steward", "exercise", "admin"})
SHAPES: tuple[str, ...] = ("circle", "plume", "corridor", "area")
LEVELS: tuple[str, ...] = ("red", "orange", "yellow")  # worst first
PARAMETER_TYPES: tuple[str, ...] = ("float", "int", "choice", "text")
APPLIES_TO: tuple[str, ...] = ("site", "point")
SITE_HAZARDS: tuple[str, ...] = ("toxic", "thermal", "overpressure")
SELECT_OPS: tuple[str, ...] = ("<=", "==", ">=")
INJECT_KINDS: tuple[str, ...] = (
    "message",
    "wind_shift",
    "casualties",
    "escalation",
    "param_change",
)
CASUALTY_KEYS: tuple[str, ...] = ("dead", "seriously_injured", "slightly_injured", "involved")
EVENT_LEVEL_MIN, EVENT_LEVEL_MAX = 1, 5
WIND_PARAMETERS: tuple[str, ...] = ("wind_from_deg", "wind_speed_ms")
TEXT_PARAMETER_MAX = 500

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
EFFECT_PATTERN = re.compile(r"^(toxic|thermal|overpressure)\.[A-Za-z0-9_]+$")

# --------------------------------------------------------------------------------------------
# Dataclasses


@dataclass(frozen=True)
class Parameter:
    """One event parameter the cell enters (wind, Seine level, release type…)."""

    name: str
    label: str
    type: str
    required: bool
    default: Any = None
    min: float | None = None
    max: float | None = None
    unit: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    help: str = ""

    def choice_label(self, value: str) -> str | None:
        """French label of a choice value, or None."""
        for choice_value, choice_label in self.choices:
            if choice_value == value:
                return choice_label
        return None


@dataclass(frozen=True)
class ZoneSpec:
    """How to draw one zone of a playbook (the geometry itself is computed by ``app.geo``)."""

    id: str
    label: str
    level: str
    family: str
    threshold: str
    shape: str
    effect: str | None = None
    default_m: float | None = None
    calm_below_ms: float | None = None
    half_angle_deg: tuple[float, float] | None = None
    dataset: str | None = None
    section_m: float | None = None
    select_property: str | None = None
    select_param: str | None = None
    # Area zones: a feature is selected when ``feature[select_property] <op> value`` where value
    # is the event parameter ``select_param`` plus ``select_margin``.
    select_op: str = "<="
    select_margin: float = 0.0
    help: str = ""


@dataclass(frozen=True)
class ChecklistItemSpec:
    """One checklist item: what to do, who does it, and by when (minutes after declaration)."""

    id: str
    title: str
    role: str
    due_min: int
    help: str = ""


@dataclass(frozen=True)
class Playbook:
    """A validated playbook."""

    id: str
    title: str
    hazard: str
    description: str
    applies_to: tuple[str, ...]
    site_hazard: str | None
    parameters: tuple[Parameter, ...]
    zones: tuple[ZoneSpec, ...]
    datasets: tuple[str, ...]
    checklist: tuple[ChecklistItemSpec, ...]
    report_cadence_min: int
    default_level: int
    source_file: str

    def parameter(self, name: str) -> Parameter | None:
        """The parameter called ``name``, or None."""
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        return None

    def zone(self, zone_id: str) -> ZoneSpec | None:
        """The zone called ``zone_id``, or None."""
        for zone in self.zones:
            if zone.id == zone_id:
                return zone
        return None

    def validate_params(
        self, params: Mapping[str, Any], *, partial: bool = False
    ) -> tuple[dict[str, Any], list[str]]:
        """Coerce and check event parameters: (clean values with defaults, French error messages
        naming the parameter).

        Out-of-range values are refused, never clamped: a silently clamped wind speed would draw
        a wrong zone. Empty strings count as missing. With ``partial`` (a change to some
        parameters, e.g. a wind shift) only the given parameters are checked and returned.
        """
        clean: dict[str, Any] = {}
        errors: list[str] = []
        if not isinstance(params, Mapping):
            return clean, ["Les paramètres de l'événement doivent être un ensemble nom → valeur."]
        known = {parameter.name for parameter in self.parameters}
        for name in params:
            if name not in known:
                errors.append(f"Paramètre inconnu « {name} » pour ce type d'événement.")
        for parameter in self.parameters:
            given = parameter.name in params
            if partial and not given:
                continue
            value = params.get(parameter.name)
            if isinstance(value, str):
                value = value.strip()
            if value is None or value == "":
                if partial:
                    if parameter.required:
                        errors.append(f"{_param_ref(parameter)} : valeur obligatoire.")
                    else:
                        clean[parameter.name] = None
                    continue
                if parameter.default is not None:
                    clean[parameter.name] = parameter.default
                elif parameter.required:
                    errors.append(f"{_param_ref(parameter)} : valeur obligatoire.")
                else:
                    clean[parameter.name] = None
                continue
            coerced, error = coerce_param(parameter, value)
            if error:
                errors.append(f"{_param_ref(parameter)} : {error}")
            else:
                clean[parameter.name] = coerced
        return clean, errors


@dataclass(frozen=True)
class Inject:
    """One scripted inject of a drill (a row of the MSEL)."""

    id: str
    offset_min: int
    kind: str
    title: str
    text: str
    to_role: str
    expected_action: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    backup_for: str | None = None
    backup_after_min: int | None = None
    sender: str = ""  # who the message comes from, in French ("Exploitant FICTIF-1")


@dataclass(frozen=True)
class Scenario:
    """A validated drill scenario: a starting situation on a playbook and its injects."""

    id: str
    title: str
    description: str
    playbook: str
    site: str | None
    point: tuple[float, float] | None  # (lon, lat) WGS84
    params: dict[str, Any]
    level: int
    injects: tuple[Inject, ...]  # sorted by offset_min
    source_file: str

    def inject(self, inject_id: str) -> Inject | None:
        """The inject called ``inject_id``, or None."""
        for inject in self.injects:
            if inject.id == inject_id:
                return inject
        return None


# --------------------------------------------------------------------------------------------
# Event parameter coercion (French messages, shown to the cell)


def _param_ref(parameter: Parameter) -> str:
    return f"« {parameter.label} » ({parameter.name})"


def _bounds_error(parameter: Parameter, number: float) -> str | None:
    unit = f" {parameter.unit}" if parameter.unit else ""
    shown = f"{fr.decimal(number)}{unit}"
    if parameter.min is not None and number < parameter.min:
        return f"{shown} est inférieur au minimum {fr.decimal(parameter.min)}{unit}."
    if parameter.max is not None and number > parameter.max:
        return f"{shown} est supérieur au maximum {fr.decimal(parameter.max)}{unit}."
    return None


def coerce_param(parameter: Parameter, value: Any) -> tuple[Any, str | None]:
    kind = parameter.type
    if kind in ("float", "int"):
        number: float | int
        if isinstance(value, bool):
            return None, "un nombre est attendu."
        if isinstance(value, int | float):
            number = value
        elif isinstance(value, str):
            text = value.replace(",", ".").replace("\u00a0", "").replace(" ", "")
            try:
                number = (
                    int(text) if kind == "int" and re.fullmatch(r"[+-]?\d+", text) else float(text)
                )
            except ValueError:
                return None, f"« {value} » n'est pas un nombre."
        else:
            return None, "un nombre est attendu."
        try:
            as_float = float(number)
        except OverflowError:
            return None, "nombre hors limites."
        if not math.isfinite(as_float):
            return None, "nombre hors limites."
        if kind == "int":
            if as_float != int(as_float):
                return None, f"{fr.decimal(as_float)} n'est pas un nombre entier."
            number = int(number)
        else:
            number = as_float
        error = _bounds_error(parameter, number)
        return (None, error) if error else (number, None)
    if kind == "choice":
        if isinstance(value, str):
            for choice_value, choice_label in parameter.choices:
                if value == choice_value or value.casefold() == choice_label.casefold():
                    return choice_value, None
        expected = ", ".join(label for _, label in parameter.choices)
        return None, f"choix inconnu « {value} » (attendu : {expected})."
    # text
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None, "un texte est attendu."
    text_value = str(value)
    if len(text_value) > TEXT_PARAMETER_MAX:
        return None, f"texte trop long (au plus {TEXT_PARAMETER_MAX} caractères)."
    return text_value, None
