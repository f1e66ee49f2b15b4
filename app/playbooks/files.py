"""Reading playbook and scenario files (``playbooks/*.yaml``, ``playbooks/scenarios/*.yaml``).

The files are validated by the models of :mod:`.model`; every error names the file and the key
path (``zones[1].shape``) so that the risk experts who write these files can fix them from
``crisis-console playbooks check`` alone. Messages for the people writing YAML are in English
(docs/playbooks.md), but for event parameters (French, as the cell sees them).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .model import (
    EFFECT_PATTERN,
    NAME_PATTERN,
    ROLES,
    SLUG_PATTERN,
    Playbook,
    Scenario,
    describe,
    show,
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
# pydantic's errors in the words of docs/playbooks.md

_PATTERNS = {
    SLUG_PATTERN.pattern: "is not a valid id (lower-case letters, digits and '-')",
    NAME_PATTERN.pattern: "is not a valid name (lower-case letters, digits and '_')",
    EFFECT_PATTERN.pattern: "is not an effect key (expected toxic.X, thermal.X or overpressure.X)",
}
_VALUE_NOUNS = {"shape": "zone shape", "select_op": "comparison"}  # "unknown zone shape 'cone'"
_EXPECTED = {
    ("string_type",): "text",
    ("int_type", "int_from_float", "int_parsing"): "an integer",
    ("float_type", "float_parsing"): "a number",
    ("bool_type", "bool_parsing"): "true or false",
    ("list_type", "tuple_type"): "a list",
    ("dict_type", "model_type", "model_attributes_type", "arguments_type"): "a mapping",
}


def key_path(loc: Iterable[str | int]) -> str:
    """``('zones', 1, 'shape')`` → ``zones[1].shape``."""
    out = ""
    for step in loc:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out


def _model_at(model: Any, loc: tuple[str | int, ...]) -> Any:
    """The model (or named tuple) that the value at ``loc`` of ``model`` is validated by."""
    for step in loc:
        if isinstance(step, int):
            continue
        fields = getattr(model, "model_fields", None) or getattr(model, "__annotations__", {})
        annotation = getattr(fields.get(step), "annotation", fields.get(step))
        model = _inner(annotation)
        if model is None:
            return None
    return model


def _inner(annotation: Any) -> Any:
    if isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or hasattr(annotation, "_fields")
    ):
        return annotation
    for arg in get_args(annotation):
        found = _inner(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(model: Any) -> list[str]:
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields is not None else list(getattr(model, "_fields", ()))


def explain(error: ErrorDetails, root: type[BaseModel]) -> tuple[str, str]:
    """The key path and the English message of one of pydantic's errors."""
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "refused":
        return key_path((*loc, *ctx.get("at", ()))), error["msg"]
    if kind in ("missing", "missing_argument"):
        return key_path(loc), "missing required key"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        name = str(loc[-1])
        allowed = _allowed_keys(_model_at(root, loc[:-1]))
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return key_path(loc), f"unknown key {name!r}{hint}; allowed keys: {', '.join(allowed)}"
    if kind == "invalid_key":
        return key_path(loc[:-1]), f"keys must be text, got {describe(loc[-1])}"
    if kind in ("string_too_short", "too_short"):
        return key_path(loc), "must not be empty"
    if kind == "string_pattern_mismatch":
        problem = _PATTERNS.get(str(ctx.get("pattern")), "is not valid")
        return key_path(loc), f"{show(value)} {problem}"
    if kind == "literal_error":
        noun = next((_VALUE_NOUNS[s] for s in reversed(loc) if s in _VALUE_NOUNS), "value")
        expected = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
        return key_path(loc), f"unknown {noun} {show(value)} (expected {expected})"
    if kind == "finite_number":
        return key_path(loc), "must be a finite number"
    if kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        return key_path(loc), "number too large"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("greater than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, bound = bounds[kind]
        return key_path(loc), f"must be {words} {show(ctx.get(bound))}, got {show(value)}"
    for kinds, expected in _EXPECTED.items():
        if kind in kinds:
            what = "a mapping of playbook keys" if not loc and expected == "a mapping" else expected
            return key_path(loc), f"expected {what}, got {describe(value)}"
    return key_path(loc), str(error["msg"])


def _validated(model: type[BaseModel], data: Any, file: str, context: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data, context={"file": file, **context})
    except ValidationError as exc:
        key, message = explain(exc.errors()[0], model)
        raise PlaybookError(file, key, message) from None
    except RecursionError:
        raise PlaybookError(file, "", "nested too deeply") from None


def playbook_from_dict(
    data: Any,
    file: str = "<playbook>",
    known_datasets: set[str] | None = None,
    roles: Iterable[str] = ROLES,
) -> Playbook:
    """Validate an already-parsed playbook document; raise PlaybookError."""
    context = {"known_datasets": known_datasets, "roles": frozenset(roles)}
    playbook: Playbook = _validated(Playbook, data, file, context)
    return playbook


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
    context = {"playbooks": playbooks, "roles": frozenset(roles)}
    scenario: Scenario = _validated(Scenario, data, file, context)
    return scenario


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
