"""Reading playbook and scenario files (``playbooks/*.yaml``, ``playbooks/scenarios/*.yaml``).

Loading is strict: every error names the file and the key path (``zones[1].shape``) so that the
risk experts who write these files can fix them from ``crisis-console playbooks check`` alone.
Messages for the people writing YAML are in English (docs/playbooks.md).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .model import (
    APPLIES_TO,
    CASUALTY_KEYS,
    EFFECT_PATTERN,
    EVENT_LEVEL_MAX,
    EVENT_LEVEL_MIN,
    INJECT_KINDS,
    LEVELS,
    NAME_PATTERN,
    PARAMETER_TYPES,
    ROLES,
    SELECT_OPS,
    SHAPES,
    SITE_HAZARDS,
    SLUG_PATTERN,
    WIND_PARAMETERS,
    ChecklistItemSpec,
    Inject,
    Parameter,
    Playbook,
    Scenario,
    ZoneSpec,
    coerce_param,
)


class PlaybookError(Exception):
    """A playbook or scenario file that cannot be used, with the file and the key path at fault."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.key:
            return f"{self.file}: {self.key}: {self.message}"
        return f"{self.file}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (PlaybookError, (self.file, self.key, self.message))


# --------------------------------------------------------------------------------------------
# A strict reader over YAML mappings (English messages, for the authors of the files)


_TYPE_NAMES = {
    str: "text",
    bool: "true/false",
    int: "an integer",
    float: "a number",
    list: "a list",
    dict: "a mapping",
}


def _show(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an integer too long to print
        return "<a very long number>"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({_show(value)})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


class _Reader:
    """Reads one YAML mapping, recording the key path, and refuses unknown keys at the end."""

    def __init__(self, file: str, path: str, data: Any, what: str = "a mapping") -> None:
        self.file = file
        self.path = path
        if not isinstance(data, dict):
            raise self.error("", f"expected {what}, got {_describe(data)}")
        for key in data:
            if not isinstance(key, str):
                raise self.error("", f"keys must be text, got {_describe(key)}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, key: str) -> str:
        if not key:
            return self.path
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> PlaybookError:
        return PlaybookError(self.file, self.key(key), message)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.error(key, "missing required key")
            return None
        return self.data[key]

    def text(self, key: str, required: bool = True, default: str = "") -> str:
        value = self.raw(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(key, f"expected text, got {_describe(value)}")
        value = value.strip()
        if required and not value:
            raise self.error(key, "must not be empty")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.text(key, required=False)
        return value or None

    def slug(self, key: str, required: bool = True) -> str:
        value = self.text(key, required)
        if value and not SLUG_PATTERN.match(value):
            raise self.error(
                key, f"{value!r} is not a valid id (lower-case letters, digits and '-')"
            )
        return value

    def choice(self, key: str, options: Iterable[str], required: bool = True) -> str:
        options = tuple(options)
        value = self.text(key, required)
        if value and value not in options:
            raise self.error(key, f"unknown value {value!r} (expected {', '.join(options)})")
        return value

    def boolean(self, key: str, required: bool = True, default: bool = False) -> bool:
        value = self.raw(key, required)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_describe(value)}")
        return value

    def integer(
        self,
        key: str,
        required: bool = True,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        value = self.raw(key, required)
        if value is None:
            return default
        return _check_int(self, key, value, low, high)

    def number(
        self,
        key: str,
        required: bool = True,
        positive: bool = False,
    ) -> float | None:
        value = self.raw(key, required)
        if value is None:
            return None
        return _check_number(self, key, value, positive)

    def items(self, key: str, required: bool = True, non_empty: bool = False) -> list[Any]:
        value = self.raw(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_describe(value)}")
        if non_empty and not value:
            raise self.error(key, "must not be empty")
        return value

    def mapping(self, key: str, required: bool = False) -> dict[str, Any]:
        value = self.raw(key, required)
        if value is None:
            return {}
        return _Reader(self.file, self.key(key), value).data

    def finish(self) -> None:
        for key in self.data:
            if key not in self.used:
                close = difflib.get_close_matches(key, sorted(self.used), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                allowed = ", ".join(sorted(self.used))
                raise self.error(key, f"unknown key {key!r}{hint}; allowed keys: {allowed}")


def _check_int(reader: _Reader, key: str, value: Any, low: int | None, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise reader.error(key, f"expected an integer, got {_describe(value)}")
    if low is not None and value < low:
        raise reader.error(key, f"must be at least {low}, got {_show(value)}")
    if high is not None and value > high:
        raise reader.error(key, f"must be at most {high}, got {_show(value)}")
    return value


def _check_number(reader: _Reader, key: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise reader.error(key, f"expected a number, got {_describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise reader.error(key, "number too large") from None
    if not math.isfinite(number):
        raise reader.error(key, "must be a finite number")
    if positive and number <= 0:
        raise reader.error(key, f"must be greater than 0, got {_show(value)}")
    return number


def _index(path: str, key: str, i: int) -> str:
    base = f"{path}.{key}" if path else key
    return f"{base}[{i}]"


def _check_dataset(reader: _Reader, key: str, slug: str, known_datasets: set[str] | None) -> None:
    if known_datasets is not None and slug not in known_datasets:
        close = difflib.get_close_matches(slug, sorted(known_datasets), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise reader.error(key, f"unknown dataset {slug!r}{hint}")


# --------------------------------------------------------------------------------------------
# Playbooks


def _read_parameter(file: str, path: str, data: Any) -> Parameter:
    r = _Reader(file, path, data)
    name = r.text("name")
    if not NAME_PATTERN.match(name):
        raise r.error("name", f"{name!r} is not a valid name (lower-case letters, digits and '_')")
    label = r.text("label")
    kind = r.choice("type", PARAMETER_TYPES)
    required = r.boolean("required")
    unit = r.text("unit", required=False)
    help_text = r.text("help", required=False)
    low = high = None
    if kind in ("float", "int"):
        low = r.number("min", required=False)
        high = r.number("max", required=False)
        if low is not None and high is not None and low > high:
            raise r.error("max", f"max ({high:g}) is below min ({low:g})")
    choices: list[tuple[str, str]] = []
    if kind == "choice":
        raw_choices = r.items("choices", non_empty=True)
        seen: set[str] = set()
        for i, item in enumerate(raw_choices):
            c = _Reader(file, _index(path, "choices", i), item)
            value = c.text("value")
            if value in seen:
                raise c.error("value", f"duplicate choice value {value!r}")
            seen.add(value)
            choices.append((value, c.text("label")))
            c.finish()
    parameter = Parameter(
        name=name,
        label=label,
        type=kind,
        required=required,
        min=low,
        max=high,
        unit=unit,
        choices=tuple(choices),
        help=help_text,
    )
    raw_default = r.raw("default", required=False)
    if raw_default is not None:
        if kind in ("float", "int") and (
            isinstance(raw_default, bool) or not isinstance(raw_default, int | float)
        ):
            raise r.error("default", f"expected a number, got {_describe(raw_default)}")
        if kind in ("choice", "text") and not isinstance(raw_default, str):
            raise r.error("default", f"expected text, got {_describe(raw_default)}")
        default, problem = coerce_param(parameter, raw_default)
        if problem:
            if kind in ("float", "int"):
                problem = f"default {_show(raw_default)} is outside [{_bound(low)}, {_bound(high)}]"
                if kind == "int" and isinstance(raw_default, float):
                    problem = f"default {_show(raw_default)} is not an integer"
            elif kind == "choice":
                values = ", ".join(value for value, _ in choices)
                problem = f"default {_show(raw_default)} is not one of the choices ({values})"
            else:
                problem = f"invalid default ({problem})"
            raise r.error("default", problem)
        parameter = replace(parameter, default=default)
    r.finish()
    return parameter


def _bound(value: float | None) -> str:
    return "-inf" if value is None else f"{value:g}"


# Fields that only make sense for some shapes; a field given to another shape is an error.
_SHAPE_FIELDS: dict[str, set[str]] = {
    "calm_below_ms": {"plume"},
    "half_angle_deg": {"plume"},
    "dataset": {"corridor", "area"},
    "section_m": {"corridor"},
    "select_property": {"area"},
    "select_param": {"area"},
    "select_op": {"area"},
    "select_margin": {"area"},
    "effect": {"circle", "plume", "corridor"},
    "default_m": {"circle", "plume", "corridor"},
}


def _read_zone(file: str, path: str, data: Any, known_datasets: set[str] | None) -> ZoneSpec:
    r = _Reader(file, path, data)
    zone_id = r.slug("id")
    label = r.text("label")
    level = r.choice("level", LEVELS)
    family = r.text("family")
    threshold = r.text("threshold")
    shape = r.text("shape")
    if shape not in SHAPES:
        raise r.error("shape", f"unknown zone shape {shape!r} (expected {', '.join(SHAPES)})")
    for key, shapes in _SHAPE_FIELDS.items():
        if r.has(key) and shape not in shapes:
            raise r.error(key, f"not used by shape {shape!r} (only by {', '.join(sorted(shapes))})")
    effect = r.opt_text("effect")
    if effect is not None and not EFFECT_PATTERN.match(effect):
        raise r.error(
            "effect",
            f"{effect!r} is not an effect key (expected toxic.X, thermal.X or overpressure.X)",
        )
    default_m = r.number("default_m", required=False, positive=True)
    calm_below_ms = r.number("calm_below_ms", required=False)
    if calm_below_ms is not None and calm_below_ms < 0:
        raise r.error("calm_below_ms", f"must not be negative, got {calm_below_ms:g}")
    half_angle: tuple[float, float] | None = None
    raw_half = r.raw("half_angle_deg", required=False)
    if raw_half is not None:
        if not isinstance(raw_half, list) or len(raw_half) != 2:
            raise r.error("half_angle_deg", "expected [strong wind, weak wind] half-angles")
        strong = _check_number(r, "half_angle_deg[0]", raw_half[0], positive=True)
        weak = _check_number(r, "half_angle_deg[1]", raw_half[1], positive=True)
        for i, angle in enumerate((strong, weak)):
            if angle > 180:
                raise r.error(f"half_angle_deg[{i}]", f"must be at most 180, got {angle:g}")
        if strong > weak:
            raise r.error(
                "half_angle_deg", "the strong-wind half-angle must not exceed the weak-wind one"
            )
        half_angle = (strong, weak)
    dataset = r.opt_text("dataset")
    if dataset is not None:
        _check_dataset(r, "dataset", dataset, known_datasets)
    section_m = r.number("section_m", required=False, positive=True)
    select_property = r.opt_text("select_property")
    select_param = r.opt_text("select_param")
    select_op = r.text("select_op", required=False, default="<=")
    if select_op not in SELECT_OPS:
        raise r.error(
            "select_op", f"unknown comparison {select_op!r} (expected {', '.join(SELECT_OPS)})"
        )
    select_margin = r.number("select_margin", required=False) or 0.0
    help_text = r.text("help", required=False)

    if shape in ("circle", "plume", "corridor") and effect is None and default_m is None:
        raise r.error("", f"a {shape} zone needs 'effect' or 'default_m' (or both)")
    if shape == "corridor" and dataset is None:
        raise r.error("dataset", "missing required key (a corridor follows the lines of a dataset)")
    if shape == "area":
        for key, value in (
            ("dataset", dataset),
            ("select_property", select_property),
            ("select_param", select_param),
        ):
            if value is None:
                raise r.error(key, "missing required key (an area zone selects features)")
    r.finish()
    return ZoneSpec(
        id=zone_id,
        label=label,
        level=level,
        family=family,
        threshold=threshold,
        shape=shape,
        effect=effect,
        default_m=default_m,
        calm_below_ms=calm_below_ms,
        half_angle_deg=half_angle,
        dataset=dataset,
        section_m=section_m,
        select_property=select_property,
        select_param=select_param,
        select_op=select_op,
        select_margin=select_margin,
        help=help_text,
    )


def _read_checklist_item(
    file: str, path: str, data: Any, roles: frozenset[str]
) -> ChecklistItemSpec:
    r = _Reader(file, path, data)
    item_id = r.slug("id")
    title = r.text("title")
    role = r.text("role")
    if role not in roles:
        raise r.error("role", f"unknown role {role!r} (expected {', '.join(sorted(roles))})")
    due_min = r.integer("due_min", low=0)
    assert due_min is not None
    help_text = r.text("help", required=False)
    r.finish()
    return ChecklistItemSpec(id=item_id, title=title, role=role, due_min=due_min, help=help_text)


def _unique(file: str, path: str, key: str, ids: list[str], field_name: str = "id") -> None:
    seen: dict[str, int] = {}
    for i, value in enumerate(ids):
        if value in seen:
            raise PlaybookError(
                file,
                f"{_index(path, key, i)}.{field_name}",
                f"duplicate {field_name} {value!r} (already {key}[{seen[value]}])",
            )
        seen[value] = i


def playbook_from_dict(
    data: Any,
    file: str = "<playbook>",
    known_datasets: set[str] | None = None,
    roles: Iterable[str] = ROLES,
) -> Playbook:
    """Validate an already-parsed playbook document; raise PlaybookError."""
    roles = frozenset(roles)
    r = _Reader(file, "", data, "a mapping of playbook keys")
    playbook_id = r.slug("id")
    title = r.text("title")
    hazard = r.slug("hazard")
    description = r.text("description")

    applies_raw = r.items("applies_to", non_empty=True)
    applies: list[str] = []
    for i, value in enumerate(applies_raw):
        key = f"applies_to[{i}]"
        if not isinstance(value, str):
            raise r.error(key, f"expected text, got {_describe(value)}")
        if value not in APPLIES_TO:
            raise r.error(key, f"unknown value {value!r} (expected {', '.join(APPLIES_TO)})")
        if value in applies:
            raise r.error(key, f"duplicate value {value!r}")
        applies.append(value)

    site_hazard = r.opt_text("site_hazard")
    if site_hazard is not None and site_hazard not in SITE_HAZARDS:
        raise r.error(
            "site_hazard", f"unknown value {site_hazard!r} (expected {', '.join(SITE_HAZARDS)})"
        )

    parameters = tuple(
        _read_parameter(file, f"parameters[{i}]", item)
        for i, item in enumerate(r.items("parameters", required=False))
    )
    _unique(file, "", "parameters", [p.name for p in parameters], "name")
    by_name = {p.name: p for p in parameters}

    zones = tuple(
        _read_zone(file, f"zones[{i}]", item, known_datasets)
        for i, item in enumerate(r.items("zones", non_empty=True))
    )
    _unique(file, "", "zones", [z.id for z in zones])
    for i, zone in enumerate(zones):
        if i and LEVELS.index(zone.level) < LEVELS.index(zones[i - 1].level):
            raise r.error(
                f"zones[{i}].level",
                f"zones must be listed worst first: {zone.level!r} after {zones[i - 1].level!r}",
            )
        if zone.shape == "plume":
            for name in WIND_PARAMETERS:
                wind = by_name.get(name)
                if wind is None or wind.type not in ("float", "int"):
                    raise r.error(
                        f"zones[{i}].shape",
                        f"a plume zone needs a numeric parameter {name!r} in 'parameters'",
                    )
        if zone.select_param is not None:
            selected = by_name.get(zone.select_param)
            if selected is None or selected.type not in ("float", "int"):
                raise r.error(
                    f"zones[{i}].select_param",
                    f"{zone.select_param!r} is not a numeric parameter of this playbook",
                )
        if zone.effect is not None and site_hazard is not None:
            if zone.effect.split(".")[0] != site_hazard:
                raise r.error(
                    f"zones[{i}].effect",
                    f"effect {zone.effect!r} does not belong to site_hazard {site_hazard!r}",
                )

    datasets: list[str] = []
    for i, value in enumerate(r.items("datasets", required=False)):
        key = f"datasets[{i}]"
        if not isinstance(value, str):
            raise r.error(key, f"expected text, got {_describe(value)}")
        if value in datasets:
            raise r.error(key, f"duplicate dataset {value!r}")
        _check_dataset(r, key, value, known_datasets)
        datasets.append(value)

    checklist = tuple(
        _read_checklist_item(file, f"checklist[{i}]", item, roles)
        for i, item in enumerate(r.items("checklist"))
    )
    _unique(file, "", "checklist", [c.id for c in checklist])

    cadence = r.integer("report_cadence_min", low=1, high=24 * 60)
    level = r.integer("default_level", low=EVENT_LEVEL_MIN, high=EVENT_LEVEL_MAX)
    assert cadence is not None and level is not None
    r.finish()
    return Playbook(
        id=playbook_id,
        title=title,
        hazard=hazard,
        description=description,
        applies_to=tuple(applies),
        site_hazard=site_hazard,
        parameters=parameters,
        zones=zones,
        datasets=tuple(datasets),
        checklist=checklist,
        report_cadence_min=cadence,
        default_level=level,
        source_file=file,
    )


def _read_yaml(path: str | Path) -> tuple[str, Any]:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PlaybookError(file, "", "not UTF-8 text") from None
    except OSError as exc:
        raise PlaybookError(file, "", f"cannot read the file ({exc.strerror or exc})") from None
    return file, parse_yaml(text, file)


def parse_yaml(text: str, file: str = "<text>") -> Any:
    """Parse YAML text, turning every parser failure into a PlaybookError."""
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise PlaybookError(file, "", f"not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise PlaybookError(file, "", "not valid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python accepts
        raise PlaybookError(file, "", f"not valid YAML: {exc}") from None
    if data is None:
        raise PlaybookError(file, "", "empty file")
    return data


def load_playbook(
    path: str | Path,
    known_datasets: set[str] | None = None,
    roles: Iterable[str] = ROLES,
) -> Playbook:
    """Load and validate one playbook file; raise PlaybookError naming the file and key."""
    file, data = _read_yaml(path)
    return playbook_from_dict(data, file, known_datasets, roles)


def load_playbooks(
    directory: str | Path,
    known_datasets: set[str] | None = None,
    roles: Iterable[str] = ROLES,
) -> tuple[dict[str, Playbook], list[PlaybookError]]:
    """Load every ``*.yaml`` of a directory: the valid playbooks by id, and the errors.

    A broken file never stops the others from loading; a second file with an id already
    loaded is reported and skipped.
    """
    return _load_directory(
        directory, "playbook", lambda path: load_playbook(path, known_datasets, roles)
    )


_Loaded = TypeVar("_Loaded", Playbook, "Scenario")


def _load_directory(
    directory: str | Path, kind: str, load_one: Callable[[Path], _Loaded]
) -> tuple[dict[str, _Loaded], list[PlaybookError]]:
    """Every ``*.yaml`` of a directory through ``load_one``: the valid ones by id, the errors."""
    loaded: dict[str, _Loaded] = {}
    errors: list[PlaybookError] = []
    if not Path(directory).is_dir():
        return loaded, [PlaybookError(str(directory), "", "no such directory")]
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            item = load_one(path)
        except PlaybookError as exc:
            errors.append(exc)
            continue
        if item.id in loaded:
            first = loaded[item.id].source_file
            errors.append(
                PlaybookError(str(path), "id", f"duplicate {kind} id {item.id!r} (also in {first})")
            )
            continue
        loaded[item.id] = item
    return loaded, errors


# --------------------------------------------------------------------------------------------
# Scenarios


def _read_point(r: _Reader, key: str) -> tuple[float, float] | None:
    raw = r.raw(key, required=False)
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 2:
        raise r.error(key, "expected [longitude, latitude] in WGS84 degrees")
    lon = _check_number(r, f"{key}[0]", raw[0])
    lat = _check_number(r, f"{key}[1]", raw[1])
    if not -180 <= lon <= 180:
        raise r.error(f"{key}[0]", f"longitude {lon:g} is outside [-180, 180]")
    if not -90 <= lat <= 90:
        raise r.error(f"{key}[1]", f"latitude {lat:g} is outside [-90, 90]")
    return (lon, lat)


def _check_params(
    r: _Reader, key: str, playbook: Playbook, params: dict[str, Any], partial: bool
) -> dict[str, Any]:
    """Validate scenario parameters against the playbook, naming the exact parameter at fault."""
    names = [p.name for p in playbook.parameters]
    for name in params:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise r.error(f"{key}.{name}", f"unknown parameter of playbook {playbook.id!r}{hint}")
    for name in names:
        if name in params:
            _, errors = playbook.validate_params({name: params[name]}, partial=True)
            if errors:
                raise r.error(f"{key}.{name}", errors[0])
    clean, errors = playbook.validate_params(params, partial=partial)
    if errors:
        missing = [p.name for p in playbook.parameters if p.required and p.name not in clean]
        raise r.error(f"{key}.{missing[0]}" if missing else key, "; ".join(errors))
    return clean


def _read_inject(
    file: str, path: str, data: Any, playbook: Playbook, roles: frozenset[str]
) -> Inject:
    r = _Reader(file, path, data)
    inject_id = r.slug("id")
    kind = r.choice("kind", INJECT_KINDS)
    title = r.text("title")
    text = r.text("text")
    to_role = r.text("to_role")
    if to_role not in roles:
        raise r.error("to_role", f"unknown role {to_role!r} (expected {', '.join(sorted(roles))})")
    sender = r.text("sender", required=False)
    expected_action = r.text("expected_action", required=False)
    backup_for = r.opt_text("backup_for")
    backup_after_min = r.integer("backup_after_min", required=False, low=1)
    if backup_for is not None and backup_after_min is None:
        raise r.error(
            "backup_after_min", "missing required key (a backup inject says after how long)"
        )
    if backup_after_min is not None and backup_for is None:
        raise r.error("backup_for", "missing required key (backup_after_min needs backup_for)")
    # A backup inject's offset follows from its target: it may be omitted (checked later).
    offset_min = r.integer("offset_min", required=backup_for is None, low=0)
    params = r.mapping("params")
    if kind == "message" and params:
        raise r.error("params", "a message inject takes no params")
    if kind in ("wind_shift", "param_change"):
        if not params:
            raise r.error("params", f"missing required key (a {kind} inject changes parameters)")
        if kind == "wind_shift":
            if "wind_from_deg" not in params:
                raise r.error("params.wind_from_deg", "missing required key")
            for name in params:
                if name not in WIND_PARAMETERS:
                    raise r.error(
                        f"params.{name}",
                        "a wind_shift only changes wind_from_deg and wind_speed_ms",
                    )
            for name in WIND_PARAMETERS:
                if playbook.parameter(name) is None:
                    raise r.error("kind", f"playbook {playbook.id!r} has no parameter {name!r}")
        params = _check_params(r, "params", playbook, params, partial=True)
    if kind == "escalation":
        p = _Reader(file, r.key("params"), params)
        p.integer("level", low=EVENT_LEVEL_MIN, high=EVENT_LEVEL_MAX)
        p.finish()
    if kind == "casualties":
        p = _Reader(file, r.key("params"), params)
        if not params:
            raise r.error(
                "params", f"missing required key (expected some of {', '.join(CASUALTY_KEYS)})"
            )
        for name in CASUALTY_KEYS:
            p.integer(name, required=False, low=0)
        p.finish()
    r.finish()
    return Inject(
        id=inject_id,
        offset_min=-1 if offset_min is None else offset_min,
        kind=kind,
        title=title,
        text=text,
        to_role=to_role,
        expected_action=expected_action,
        params=dict(params),
        backup_for=backup_for,
        backup_after_min=backup_after_min,
        sender=sender,
    )


def scenario_from_dict(
    data: Any,
    playbooks: Mapping[str, Playbook],
    file: str = "<scenario>",
    known_datasets: set[str] | None = None,
    roles: Iterable[str] = ROLES,
) -> Scenario:
    """Validate an already-parsed scenario document; raise PlaybookError.

    ``known_datasets`` is accepted for symmetry with playbooks; scenarios name no dataset.
    """
    del known_datasets
    roles = frozenset(roles)
    r = _Reader(file, "", data, "a mapping of scenario keys")
    scenario_id = r.slug("id")
    title = r.text("title")
    description = r.text("description")
    playbook_id = r.text("playbook")
    playbook = playbooks.get(playbook_id)
    if playbook is None:
        close = difflib.get_close_matches(playbook_id, sorted(playbooks), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise r.error("playbook", f"unknown playbook {playbook_id!r}{hint}")

    site = r.opt_text("site")
    point = _read_point(r, "point")
    if (site is None) == (point is None):
        raise r.error("site", "give exactly one of 'site' and 'point'")
    if site is not None and "site" not in playbook.applies_to:
        raise r.error("site", f"playbook {playbook.id!r} does not apply to a site")
    if point is not None and "point" not in playbook.applies_to:
        raise r.error("point", f"playbook {playbook.id!r} does not apply to a point")

    raw_params = r.mapping("params")
    params = _check_params(r, "params", playbook, raw_params, partial=False)
    level = r.integer(
        "level",
        required=False,
        default=playbook.default_level,
        low=EVENT_LEVEL_MIN,
        high=EVENT_LEVEL_MAX,
    )
    assert level is not None

    injects = [
        _read_inject(file, f"injects[{i}]", item, playbook, roles)
        for i, item in enumerate(r.items("injects", non_empty=True))
    ]
    _unique(file, "", "injects", [inject.id for inject in injects])
    by_id = {inject.id: (i, inject) for i, inject in enumerate(injects)}
    for i, inject in enumerate(injects):
        if inject.backup_for is None:
            continue
        key = f"injects[{i}]"
        target = by_id.get(inject.backup_for)
        if target is None:
            raise r.error(f"{key}.backup_for", f"no inject with id {inject.backup_for!r}")
        if target[1] is inject:
            raise r.error(f"{key}.backup_for", "an inject cannot back itself up")
        if target[1].backup_for is not None:
            raise r.error(f"{key}.backup_for", f"{inject.backup_for!r} is itself a backup inject")
        assert inject.backup_after_min is not None
        due = target[1].offset_min + inject.backup_after_min
        if inject.offset_min == -1:
            injects[i] = replace(inject, offset_min=due)
        elif inject.offset_min != due:
            raise r.error(
                f"{key}.offset_min",
                f"a backup inject fires at its target's offset + backup_after_min "
                f"({target[1].offset_min} + {inject.backup_after_min} = {due}), "
                f"got {inject.offset_min}",
            )
    r.finish()
    return Scenario(
        id=scenario_id,
        title=title,
        description=description,
        playbook=playbook.id,
        site=site,
        point=point,
        params=params,
        level=level,
        injects=tuple(sorted(injects, key=lambda inject: inject.offset_min)),
        source_file=file,
    )


def load_scenario(
    path: str | Path,
    playbooks: Mapping[str, Playbook],
    known_datasets: set[str] | None = None,
    roles: Iterable[str] = ROLES,
) -> Scenario:
    """Load and validate one scenario file; raise PlaybookError naming the file and key."""
    file, data = _read_yaml(path)
    return scenario_from_dict(data, playbooks, file, known_datasets, roles)


def load_scenarios(
    directory: str | Path,
    playbooks: Mapping[str, Playbook],
    known_datasets: set[str] | None = None,
    roles: Iterable[str] = ROLES,
) -> tuple[dict[str, Scenario], list[PlaybookError]]:
    """Load every ``*.yaml`` of a scenario directory: the valid scenarios by id, and the errors."""
    return _load_directory(
        directory, "scenario", lambda path: load_scenario(path, playbooks, known_datasets, roles)
    )
