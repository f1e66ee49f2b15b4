"""What a playbook and a drill scenario are: the declared file formats (pydantic 2 models), which
are also the objects the console passes around, and the event parameters they declare.

A playbook says, for one kind of risk, which parameters the cell enters, which zones are drawn,
which datasets are worth opening and which checklist the cell follows. A scenario scripts a drill
on top of a playbook: a starting situation and injects fired at offsets. The keys are documented
in docs/playbooks.md: adding a key is adding one field to one model below (and a row there).

Every model refuses unknown keys (``extra="forbid"``), reads ``null`` as an absent key and takes
no type conversion (text is not a number, a number is not true/false). Checks across fields are
validators that raise :func:`refuse` with the key path at fault; ``app.playbooks.files`` turns
pydantic's errors into English messages for the people writing the files. What validation needs
from outside the file comes in the validation context: ``known_datasets``, ``roles``, and for a
scenario the ``playbooks`` it may use. Messages about event parameters (shown to the crisis cell
by :meth:`Playbook.validate_params`) are in French.
"""

from __future__ import annotations

import difflib
import math
import re
import string
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, NamedTuple, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .. import fr

ROLES: frozenset[str] = frozenset({"director", "cell", "liaison", "steward", "exercise", "admin"})
Shape = Literal["circle", "plume", "corridor", "area"]
ZoneLevel = Literal["red", "orange", "yellow"]  # worst first
ParameterType = Literal["float", "int", "choice", "text"]
AppliesTo = Literal["site", "point"]
SiteHazard = Literal["toxic", "thermal", "overpressure"]
SelectOp = Literal["<=", "==", ">="]
InjectKind = Literal[
    "message", "wind_shift", "casualties", "escalation", "param_change", "centre_arrivals"
]
SHAPES: tuple[str, ...] = get_args(Shape)
LEVELS: tuple[str, ...] = get_args(ZoneLevel)
PARAMETER_TYPES: tuple[str, ...] = get_args(ParameterType)
APPLIES_TO: tuple[str, ...] = get_args(AppliesTo)
SITE_HAZARDS: tuple[str, ...] = get_args(SiteHazard)
SELECT_OPS: tuple[str, ...] = get_args(SelectOp)
INJECT_KINDS: tuple[str, ...] = get_args(InjectKind)
# Injects that describe a change of the event. By default they ask the players to act (the
# event is not touched); ``apply: true`` in the scenario makes the change itself.
CHANGE_KINDS: tuple[str, ...] = ("wind_shift", "param_change", "escalation")
CASUALTY_KEYS: tuple[str, ...] = ("dead", "seriously_injured", "slightly_injured", "involved")
# Outgoing messages (issue 17): the template ids every playbook offers (a contract), the CAP 1.2
# values a template may give, and the placeholders its texts may hold (filled from the event's
# facts by app.messages).
TemplateId = Literal["mise-a-l-abri", "evacuation", "levee", "point-de-situation"]
CapResponse = Literal[
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"
]
CapUrgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
CapCertainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
TEMPLATE_IDS: tuple[str, ...] = get_args(TemplateId)
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
EVENT_LEVEL_MIN, EVENT_LEVEL_MAX = 1, 5
WIND_PARAMETERS: tuple[str, ...] = ("wind_from_deg", "wind_speed_ms")
TEXT_PARAMETER_MAX = 500
NUMERIC = ("float", "int")

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
EFFECT_PATTERN = re.compile(r"^(toxic|thermal|overpressure)\.[A-Za-z0-9_]+$")

# --------------------------------------------------------------------------------------------
# Value types of the files (strict: YAML's own types, no conversion; floats are finite)

Text = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1)]
OptionalText = Annotated[str, Strict(), StringConstraints(strip_whitespace=True)]
Slug = Annotated[Text, StringConstraints(pattern=SLUG_PATTERN.pattern)]
Name = Annotated[Text, StringConstraints(pattern=NAME_PATTERN.pattern)]
EffectKey = Annotated[Text, StringConstraints(pattern=EFFECT_PATTERN.pattern)]
Number = Annotated[float, Strict()]  # an integer is a number too
Distance = Annotated[float, Strict(), Field(gt=0)]
HalfAngle = Annotated[float, Strict(), Field(gt=0, le=180)]
Count = Annotated[int, Strict(), Field(ge=0)]
Minutes = Annotated[int, Strict(), Field(ge=0)]
EventLevel = Annotated[int, Strict(), Field(ge=EVENT_LEVEL_MIN, le=EVENT_LEVEL_MAX)]
Flag = Annotated[bool, Strict()]


def refuse(message: str, *at: str | int) -> PydanticCustomError:
    """A refusal of a validator, ``at`` the key path below the validated value (English)."""
    return PydanticCustomError("refused", message, {"at": at})


def _hint(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _context(info: ValidationInfo) -> Mapping[str, Any]:
    return info.context if isinstance(info.context, Mapping) else {}


def _duplicates(values: Iterable[str], info: ValidationInfo, what: str, key: str = "") -> None:
    """Refuse the second occurrence of a value of a list: ``what`` names it, ``key`` is its key
    in an item of the list (``checklist[1].id``), none for a list of values (``datasets[1]``)."""
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in seen:
            at: tuple[str | int, ...] = (i, key) if key else (i,)
            already = f"{info.field_name}[{seen[value]}]"
            raise refuse(f"duplicate {what} {value!r} (already {already})", *at)
        seen[value] = i


def unique(what: str, key: str = "") -> AfterValidator:
    """A list declared without repeats: its items (or their ``key``) appear once each."""

    def check(values: tuple[Any, ...], info: ValidationInfo) -> tuple[Any, ...]:
        _duplicates([getattr(v, key) if key else v for v in values], info, what, key)
        return values

    return AfterValidator(check)


def _check_role(role: str, info: ValidationInfo) -> str:
    roles = frozenset(_context(info).get("roles", ROLES))
    if role not in roles:
        raise refuse(f"unknown role {role!r} (expected {', '.join(sorted(roles))})")
    return role


def _check_dataset(slug: str, info: ValidationInfo) -> str:
    known = _context(info).get("known_datasets")
    if known is not None and slug not in known:
        raise refuse(f"unknown dataset {slug!r}{_hint(slug, known)}")
    return slug


def _pair(what: str) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise refuse(f"expected {what}")
        return value

    return check


class Declared(BaseModel):
    """A mapping of a playbook or scenario file: unknown keys refused, ``null`` = absent."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


# --------------------------------------------------------------------------------------------
# Playbooks


class Choice(NamedTuple):
    """One value of a ``choice`` parameter: stored ``value``, French ``label``."""

    value: Text
    label: Text


class Parameter(Declared):
    """One event parameter the cell enters (wind, Seine level, release type…)."""

    name: Name
    label: Text
    type: ParameterType
    required: Flag
    unit: OptionalText = ""
    help: OptionalText = ""
    min: Number | None = None  # float and int only
    max: Number | None = None
    choices: Annotated[tuple[Choice, ...], unique("choice value", "value")] = ()  # choice only
    default: Any = None  # checked against the type, bounds and choices

    @field_validator("max")
    @classmethod
    def _max_not_below_min(cls, high: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get("min")
        if high is not None and low is not None and low > high:
            raise refuse(f"max ({high:g}) is below min ({low:g})")
        return high

    @field_validator("choices", mode="before")
    @classmethod
    def _choices_are_mappings(cls, value: Any) -> Any:
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise refuse(f"expected a mapping, got {describe(item)}", i)
        return value

    @field_validator("default")
    @classmethod
    def _default_is_a_value(cls, raw: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if kind is None:
            return raw  # the type itself is refused
        if kind in NUMERIC and (isinstance(raw, bool) or not isinstance(raw, int | float)):
            raise refuse(f"expected a number, got {describe(raw)}")
        if kind not in NUMERIC and not isinstance(raw, str):
            raise refuse(f"expected text, got {describe(raw)}")
        parameter = Parameter.model_construct(**info.data)
        value, problem = coerce_param(parameter, raw)
        if problem is None:
            return value
        low, high = parameter.min, parameter.max
        if kind == "int" and isinstance(raw, float):
            raise refuse(f"default {show(raw)} is not an integer")
        if kind in NUMERIC:
            bounds = ("-inf" if low is None else f"{low:g}", "inf" if high is None else f"{high:g}")
            raise refuse(f"default {show(raw)} is outside [{bounds[0]}, {bounds[1]}]")
        if kind == "choice":
            values = ", ".join(choice.value for choice in parameter.choices)
            raise refuse(f"default {show(raw)} is not one of the choices ({values})")
        raise refuse(f"invalid default ({problem})")

    @model_validator(mode="after")
    def _keys_of_the_type(self) -> Parameter:
        if self.type not in NUMERIC:
            for key in ("min", "max"):
                if key in self.model_fields_set:
                    raise refuse(f"not used by type {self.type!r} (only by float, int)", key)
        if self.type == "choice" and not self.choices:
            if "choices" in self.model_fields_set:
                raise refuse("must not be empty", "choices")
            raise refuse("missing required key (a choice parameter lists its choices)", "choices")
        if self.type != "choice" and "choices" in self.model_fields_set:
            raise refuse(f"not used by type {self.type!r} (only by choice)", "choices")
        return self

    def choice_label(self, value: str) -> str | None:
        """French label of a choice value, or None."""
        for choice in self.choices:
            if choice.value == value:
                return choice.label
        return None


# Keys that only make sense for some shapes; a key given to another shape is refused.
SHAPE_KEYS: dict[str, tuple[str, ...]] = {
    "effect": ("circle", "plume", "corridor"),
    "default_m": ("circle", "plume", "corridor"),
    "calm_below_ms": ("plume",),
    "half_angle_deg": ("plume",),
    "dataset": ("corridor", "area"),
    "section_m": ("corridor",),
    "select_property": ("area",),
    "select_param": ("area",),
    "select_op": ("area",),
    "select_margin": ("area",),
}


class ZoneSpec(Declared):
    """How to draw one zone of a playbook (the geometry itself is computed by ``app.geo``)."""

    id: Slug
    label: Text
    level: ZoneLevel
    family: Text
    threshold: Text
    shape: Shape
    effect: EffectKey | None = None
    default_m: Distance | None = None
    calm_below_ms: Annotated[Number, Field(ge=0)] | None = None
    half_angle_deg: tuple[HalfAngle, HalfAngle] | None = None
    dataset: Text | None = None
    section_m: Distance | None = None
    select_property: Text | None = None
    select_param: Text | None = None
    # Area zones: a feature is selected when ``feature[select_property] <op> value`` where value
    # is the event parameter ``select_param`` plus ``select_margin``.
    select_op: SelectOp = "<="
    select_margin: Number = 0.0
    help: OptionalText = ""

    @field_validator("half_angle_deg", mode="before")
    @classmethod
    def _half_angles(cls, value: Any) -> Any:
        return _pair("[strong wind, weak wind] half-angles")(value)

    @field_validator("half_angle_deg")
    @classmethod
    def _strong_within_weak(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise refuse("the strong-wind half-angle must not exceed the weak-wind one")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, slug: str | None, info: ValidationInfo) -> str | None:
        return None if slug is None else _check_dataset(slug, info)

    @model_validator(mode="after")
    def _keys_of_the_shape(self) -> ZoneSpec:
        for key, shapes in SHAPE_KEYS.items():
            if key in self.model_fields_set and self.shape not in shapes:
                raise refuse(f"not used by shape {self.shape!r} (only by {', '.join(shapes)})", key)
        if self.shape in ("circle", "plume", "corridor"):
            if self.effect is None and self.default_m is None:
                raise refuse(f"a {self.shape} zone needs 'effect' or 'default_m' (or both)")
        if self.shape == "corridor" and self.dataset is None:
            raise refuse(
                "missing required key (a corridor follows the lines of a dataset)", "dataset"
            )
        if self.shape == "area":
            for key in ("dataset", "select_property", "select_param"):
                if getattr(self, key) is None:
                    raise refuse("missing required key (an area zone selects features)", key)
        return self


def unknown_placeholders(text: str) -> list[str]:
    """Placeholders of ``text`` that are not in :data:`PLACEHOLDERS` (or why it is malformed)."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return [str(exc)]
    return [n for n in names if n not in PLACEHOLDERS]


def _placeholders_known(text: str) -> str:
    unknown = unknown_placeholders(text)
    if unknown:
        raise refuse(f"unknown placeholder {', '.join(unknown)} (known: {', '.join(PLACEHOLDERS)})")
    return text


TemplateText = Annotated[Text, AfterValidator(_placeholders_known)]


class MessageTemplate(Declared):
    """The texts of one outgoing-message template (French, with ``{placeholders}``) and what a
    CAP alert made from it says (responseType, urgency, certainty)."""

    headline: TemplateText
    cbs: TemplateText  # the FR-Alert cell-broadcast text for the population
    instruction: TemplateText
    description: TemplateText | None = None  # None: the console's factual description
    response: Annotated[tuple[CapResponse, ...], Field(min_length=1), unique("response")]
    urgency: CapUrgency = "Immediate"
    certainty: CapCertainty = "Observed"


class ChecklistItemSpec(Declared):
    """One checklist item: what to do, who does it, and by when (minutes after declaration)."""

    id: Slug
    title: Text
    role: Text
    due_min: Minutes
    help: OptionalText = ""

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str, info: ValidationInfo) -> str:
        return _check_role(role, info)


class Document(Declared):
    """A whole file (a playbook, a scenario): it knows where it was read from."""

    _source_file: str = PrivateAttr(default="")

    def model_post_init(self, context: Any) -> None:
        self._source_file = str((context or {}).get("file", ""))

    @property
    def source_file(self) -> str:
        """The file it was read from (the ``file`` of the validation context)."""
        return self._source_file


class Playbook(Document):
    """A playbook: parameters, zones, datasets and checklist of one kind of risk."""

    id: Slug
    title: Text
    hazard: Slug
    description: Text
    applies_to: Annotated[tuple[AppliesTo, ...], Field(min_length=1), unique("value")]
    site_hazard: SiteHazard | None = None
    parameters: Annotated[tuple[Parameter, ...], unique("name", "name")] = ()
    zones: Annotated[tuple[ZoneSpec, ...], Field(min_length=1), unique("id", "id")]
    datasets: Annotated[tuple[Text, ...], unique("dataset")] = ()
    checklist: Annotated[tuple[ChecklistItemSpec, ...], unique("id", "id")]
    # The call-out lists: functions of the PCS whose holders the cell calls (crisis directory).
    callout: Annotated[tuple[Text, ...], unique("function")] = ()
    report_cadence_min: Annotated[int, Strict(), Field(ge=1, le=24 * 60)]
    default_level: EventLevel
    # The outgoing-message templates: every template id, each once.
    messages: dict[TemplateId, MessageTemplate]

    @field_validator("messages")
    @classmethod
    def _every_template(cls, messages: dict[str, MessageTemplate]) -> dict[str, MessageTemplate]:
        missing = [t for t in TEMPLATE_IDS if t not in messages]
        if missing:
            raise refuse(
                f"missing template {', '.join(map(repr, missing))} "
                f"(every playbook offers {', '.join(TEMPLATE_IDS)})"
            )
        return messages

    @field_validator("zones")
    @classmethod
    def _zones_fit(cls, zones: tuple[ZoneSpec, ...], info: ValidationInfo) -> tuple[ZoneSpec, ...]:
        parameters = info.data.get("parameters")
        numeric = {p.name for p in parameters or () if p.type in NUMERIC}
        site_hazard = info.data.get("site_hazard")
        for i, zone in enumerate(zones):
            if i and LEVELS.index(zone.level) < LEVELS.index(zones[i - 1].level):
                raise refuse(
                    "zones must be listed worst first: "
                    f"{zone.level!r} after {zones[i - 1].level!r}",
                    i,
                    "level",
                )
            if parameters is None:
                continue  # the parameters themselves are refused
            if zone.shape == "plume":
                for name in WIND_PARAMETERS:
                    if name not in numeric:
                        raise refuse(
                            f"a plume zone needs a numeric parameter {name!r} in 'parameters'",
                            i,
                            "shape",
                        )
            if zone.select_param is not None and zone.select_param not in numeric:
                raise refuse(
                    f"{zone.select_param!r} is not a numeric parameter of this playbook",
                    i,
                    "select_param",
                )
            if zone.effect is not None and site_hazard is not None:
                if zone.effect.split(".")[0] != site_hazard:
                    raise refuse(
                        f"effect {zone.effect!r} does not belong to site_hazard {site_hazard!r}",
                        i,
                        "effect",
                    )
        return zones

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, slugs: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for i, slug in enumerate(slugs):
            try:
                _check_dataset(slug, info)
            except PydanticCustomError as exc:
                raise refuse(exc.message(), i) from None
        return slugs

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


# --------------------------------------------------------------------------------------------
# Scenarios


class _EscalationParams(Declared):
    level: EventLevel


class _CasualtyParams(Declared):
    dead: Count | None = None
    seriously_injured: Count | None = None
    slightly_injured: Count | None = None
    involved: Count | None = None


class _CentreArrivalsParams(Declared):
    centre: Text  # an id of the reception-centres dataset (DEMO-CARE-05)
    people: Annotated[int, Strict(), Field(ge=1, le=100_000)]


class Inject(Declared):
    """One scripted inject of a drill (a row of the MSEL)."""

    id: Slug
    kind: InjectKind
    title: Text
    text: Text
    to_role: Text
    sender: OptionalText = ""  # who the message comes from, in French ("Exploitant FICTIF-1")
    expected_action: OptionalText = ""
    backup_for: Text | None = None
    backup_after_min: Annotated[int, Strict(), Field(ge=1)] | None = None
    # Required but for a backup inject, whose offset follows from its target (set by Scenario).
    offset_min: Minutes = -1
    params: Annotated[dict[str, Any], Field(validate_default=True)] = {}
    apply: Flag = False  # a change inject (CHANGE_KINDS) changes the event itself

    @property
    def asks_players(self) -> bool:
        """A change the players must make themselves (the event is left as it is)."""
        return self.kind in CHANGE_KINDS and not self.apply

    @field_validator("apply")
    @classmethod
    def _only_a_change_applies(cls, apply: bool, info: ValidationInfo) -> bool:
        if info.data.get("kind") not in CHANGE_KINDS:
            raise refuse(f"only a change inject ({', '.join(CHANGE_KINDS)}) may apply itself")
        return apply

    @field_validator("to_role")
    @classmethod
    def _known_role(cls, role: str, info: ValidationInfo) -> str:
        return _check_role(role, info)

    @field_validator("params")
    @classmethod
    def _params_of_the_kind(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = info.data.get("kind")
        if kind == "message" and params:
            raise refuse("a message inject takes no params")
        if kind in ("wind_shift", "param_change") and not params:
            raise refuse(f"missing required key (a {kind} inject changes parameters)")
        if kind == "wind_shift":
            if "wind_from_deg" not in params:
                raise refuse("missing required key", "wind_from_deg")
            for name in params:
                if name not in WIND_PARAMETERS:
                    raise refuse("a wind_shift only changes wind_from_deg and wind_speed_ms", name)
        if kind == "escalation":
            _EscalationParams.model_validate(params)
        if kind == "centre_arrivals":
            _CentreArrivalsParams.model_validate(params)
        if kind == "casualties":
            if not params:
                raise refuse(f"missing required key (expected some of {', '.join(CASUALTY_KEYS)})")
            _CasualtyParams.model_validate(params)
        return params

    @model_validator(mode="after")
    def _backup_or_offset(self) -> Inject:
        if self.backup_for is not None and self.backup_after_min is None:
            raise refuse(
                "missing required key (a backup inject says after how long)", "backup_after_min"
            )
        if self.backup_after_min is not None and self.backup_for is None:
            raise refuse("missing required key (backup_after_min needs backup_for)", "backup_for")
        if self.backup_for is None and "offset_min" not in self.model_fields_set:
            raise refuse("missing required key", "offset_min")
        return self


class Scenario(Document):
    """A drill scenario: a starting situation on a playbook and its injects."""

    id: Slug
    title: Text
    description: Text
    playbook: Text
    site: Text | None = None
    point: tuple[Number, Number] | None = None  # (lon, lat) WGS84
    params: Annotated[dict[str, Any], Field(validate_default=True)] = {}
    level: EventLevel = Field(default=None, validate_default=True)  # None: the playbook's
    injects: Annotated[tuple[Inject, ...], Field(min_length=1), unique("id", "id")]  # by offset

    @staticmethod
    def _playbook_of(info: ValidationInfo) -> Playbook | None:
        found = _context(info).get("playbooks", {}).get(info.data.get("playbook"))
        return found if isinstance(found, Playbook) else None

    @field_validator("playbook")
    @classmethod
    def _known_playbook(cls, playbook_id: str, info: ValidationInfo) -> str:
        playbooks = _context(info).get("playbooks", {})
        if playbook_id not in playbooks:
            raise refuse(f"unknown playbook {playbook_id!r}{_hint(playbook_id, playbooks)}")
        return playbook_id

    @field_validator("site", "point")
    @classmethod
    def _playbook_applies(cls, value: Any, info: ValidationInfo) -> Any:
        playbook = cls._playbook_of(info)
        if (
            value is not None
            and playbook is not None
            and info.field_name not in playbook.applies_to
        ):
            raise refuse(f"playbook {playbook.id!r} does not apply to a {info.field_name}")
        return value

    @field_validator("point", mode="before")
    @classmethod
    def _lon_lat(cls, value: Any) -> Any:
        return _pair("[longitude, latitude] in WGS84 degrees")(value)

    @field_validator("point")
    @classmethod
    def _on_earth(cls, point: tuple[float, float] | None) -> tuple[float, float] | None:
        if point is not None:
            lon, lat = point
            if not -180 <= lon <= 180:
                raise refuse(f"longitude {lon:g} is outside [-180, 180]", 0)
            if not -90 <= lat <= 90:
                raise refuse(f"latitude {lat:g} is outside [-90, 90]", 1)
        return point

    @field_validator("params")
    @classmethod
    def _params_of_the_playbook(
        cls, params: dict[str, Any], info: ValidationInfo
    ) -> dict[str, Any]:
        playbook = cls._playbook_of(info)
        return params if playbook is None else check_params(playbook, params, partial=False)

    @field_validator("level", mode="before")
    @classmethod
    def _playbook_level(cls, level: Any, info: ValidationInfo) -> Any:
        if level is None:
            playbook = cls._playbook_of(info)
            return playbook.default_level if playbook else EVENT_LEVEL_MIN
        return level

    @field_validator("injects")
    @classmethod
    def _injects_fit(cls, injects: tuple[Inject, ...], info: ValidationInfo) -> tuple[Inject, ...]:
        playbook = cls._playbook_of(info)
        out = list(injects)
        for i, inject in enumerate(injects):
            if playbook is not None and inject.kind in ("wind_shift", "param_change"):
                if inject.kind == "wind_shift":
                    for name in WIND_PARAMETERS:
                        if playbook.parameter(name) is None:
                            raise refuse(
                                f"playbook {playbook.id!r} has no parameter {name!r}", i, "kind"
                            )
                try:
                    clean = check_params(playbook, inject.params, partial=True)
                except PydanticCustomError as exc:
                    at = (exc.context or {}).get("at", ())
                    raise refuse(exc.message(), i, "params", *at) from None
                out[i] = inject.model_copy(update={"params": clean})
        by_id = {inject.id: inject for inject in injects}
        for i, inject in enumerate(injects):
            if inject.backup_for is None:
                continue
            target = by_id.get(inject.backup_for)
            if target is None:
                raise refuse(f"no inject with id {inject.backup_for!r}", i, "backup_for")
            if target is inject:
                raise refuse("an inject cannot back itself up", i, "backup_for")
            if target.backup_for is not None:
                raise refuse(f"{inject.backup_for!r} is itself a backup inject", i, "backup_for")
            assert inject.backup_after_min is not None
            due = target.offset_min + inject.backup_after_min
            if "offset_min" not in inject.model_fields_set:
                out[i] = out[i].model_copy(update={"offset_min": due})
            elif inject.offset_min != due:
                raise refuse(
                    f"a backup inject fires at its target's offset + backup_after_min "
                    f"({target.offset_min} + {inject.backup_after_min} = {due}), "
                    f"got {inject.offset_min}",
                    i,
                    "offset_min",
                )
        return tuple(sorted(out, key=lambda inject: inject.offset_min))

    @model_validator(mode="after")
    def _site_or_point(self) -> Scenario:
        if (self.site is None) == (self.point is None):
            raise refuse("give exactly one of 'site' and 'point'", "site")
        return self

    def inject(self, inject_id: str) -> Inject | None:
        """The inject called ``inject_id``, or None."""
        for inject in self.injects:
            if inject.id == inject_id:
                return inject
        return None


def check_params(playbook: Playbook, params: Mapping[str, Any], partial: bool) -> dict[str, Any]:
    """Scenario parameters checked against the playbook; refuse naming the parameter at fault."""
    names = [p.name for p in playbook.parameters]
    for name in params:
        if name not in names:
            raise refuse(
                f"unknown parameter of playbook {playbook.id!r}{_hint(str(name), names)}", name
            )
    for name in names:
        if name in params:
            _, errors = playbook.validate_params({name: params[name]}, partial=True)
            if errors:
                raise refuse(errors[0], name)
    clean, errors = playbook.validate_params(params, partial=partial)
    if errors:
        missing = [p.name for p in playbook.parameters if p.required and p.name not in clean]
        raise refuse("; ".join(errors), *missing[:1])
    return clean


# --------------------------------------------------------------------------------------------
# How values are shown in the messages to the authors of the files


def show(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an integer too long to print
        return "<a very long number>"


def describe(value: Any) -> str:
    """What a YAML value is, in a few words (``text 'trente'``, ``a list``)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({show(value)})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


# --------------------------------------------------------------------------------------------
# Event parameter coercion (French messages, shown to the cell)


def _param_ref(parameter: Parameter) -> str:
    # The label the cell reads on the form, never the internal key (files name the key).
    return f"« {parameter.label} »"


def _bounds_error(parameter: Parameter, number: float) -> str | None:
    unit = f" {parameter.unit}" if parameter.unit else ""
    shown = f"{fr.decimal(number)}{unit}"
    if parameter.min is not None and number < parameter.min:
        return f"{shown} est inférieur au minimum {fr.decimal(parameter.min)}{unit}."
    if parameter.max is not None and number > parameter.max:
        return f"{shown} est supérieur au maximum {fr.decimal(parameter.max)}{unit}."
    return None


def coerce_param(parameter: Parameter, value: Any) -> tuple[Any, str | None]:
    """An event parameter's value converted to its type, or a French message saying why not."""
    kind = parameter.type
    if kind in NUMERIC:
        number: float | int
        if isinstance(value, bool):
            return None, "un nombre est attendu."
        if isinstance(value, int | float):
            number = value
        elif isinstance(value, str):
            text = value.replace(",", ".").replace("\u00a0", "").replace(" ", "")
            if parameter.unit == "°":
                # A direction may be given as a point of the compass ("NNE", "sud-ouest").
                text = text.rstrip("°")
                point = fr.parse_compass(text)
                if point is not None:
                    text = str(point)
            try:
                number = (
                    int(text) if kind == "int" and re.fullmatch(r"[+-]?\d+", text) else float(text)
                )
            except ValueError:
                if parameter.unit == "°":
                    return None, (
                        f"« {value} » n'est ni un nombre de degrés ni un point cardinal"
                        " (N, NNE, NE, … NNO)."
                    )
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
            for choice in parameter.choices:
                if value == choice.value or value.casefold() == choice.label.casefold():
                    return choice.value, None
        expected = ", ".join(choice.label for choice in parameter.choices)
        return None, f"choix inconnu « {value} » (attendu : {expected})."
    # text
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None, "un texte est attendu."
    text_value = str(value)
    if len(text_value) > TEXT_PARAMETER_MAX:
        return None, f"texte trop long (au plus {TEXT_PARAMETER_MAX} caractères)."
    return text_value, None
