"""Applying a dataset's field mapping (declared in the catalogue) to the properties of a file.

An owner's file never has our field names. The mapping (``mapping:`` of a dataset in
``catalogue.yaml``, :class:`app.catalogue_file.FieldMap`) says, once, which source field feeds
which catalogue field, in which unit, with which codes; every import applies it before the one
validator (:class:`app.imports.Validator`) sees the feature.

- A mapped source field that a file lacks is refused by name, unless the file already bears the
  catalogue's name for it (the owner renamed it) or the entry is ``optional``.
- Typed sources (GeoPackage, Shapefile, …) get the obvious conversions to the catalogue's type
  (a DBF number for a text code, an integral real for an integer); a value that does not convert
  is refused naming the feature and the field.
- When a dataset declares a mapping, the source fields it does not name and that are not
  catalogue fields are left out (an owner's 80 columns do not leak into the console).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from .catalogue_file import unit_factor
from .records import Dataset

Report = Callable[[str, str], None]  # (where, message)
MAX_JSON_CHARS = 1 << 20


class MissingFields(ValueError):
    """The file lacks mapped fields; ``messages`` names each."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(messages))


_TRUE = {"true", "1", "oui", "vrai", "yes", "t", "y", "o"}
_FALSE = {"false", "0", "non", "faux", "no", "f", "n"}


def coerce(ftype: str, value: Any) -> Any:
    """``value`` as a catalogue ``ftype``, by the obvious conversion; ValueError otherwise."""
    if value is None:
        return None
    kind = type(value)
    if ftype == "str":
        if kind is str:
            return value
        if kind is int:
            return str(value)
        if kind is float and math.isfinite(value) and value.is_integer():
            return str(int(value))
        if kind is float:
            return repr(value)
        raise ValueError("texte attendu")
    if ftype == "int":
        if kind is int:
            return value
        if kind is float and math.isfinite(value) and value.is_integer():
            return int(value)
        if kind is str and value.strip():
            number = float(value.strip().replace(",", "."))
            if math.isfinite(number) and number.is_integer():
                return int(number)
        if kind is str and not value.strip():
            return None
        raise ValueError("entier attendu")
    if ftype == "float":
        if kind is int or kind is float:
            return value
        if kind is str and value.strip():
            return float(value.strip().replace(",", "."))
        if kind is str:
            return None
        raise ValueError("nombre attendu")
    if ftype == "bool":
        if kind is bool:
            return value
        if kind is int and value in (0, 1):
            return bool(value)
        if kind is str:
            low = value.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            if not low:
                return None
        raise ValueError("booléen attendu")
    if ftype == "json" and kind is str and value[:1] in ("[", "{") and len(value) < MAX_JSON_CHARS:
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


class FieldMapper:
    """The mapping of one dataset, ready to apply to the properties of one file."""

    def __init__(self, dataset: Dataset, *, typed: bool):
        self.dataset = dataset
        self.typed = typed  # the source has typed fields: convert to the catalogue's types
        self.types = {f.name: f.type for f in dataset.fields}
        self.units = {f.name: f.unit for f in dataset.fields}
        self.entries = tuple(dataset.mapping)
        self.keep = set(self.types) | {dataset.id_field}
        self.factors = {
            m.field: unit_factor(m.unit, self.units[m.field] or m.unit)
            for m in self.entries
            if m.unit is not None
        }
        self.active = bool(self.entries) or typed

    def check_fields(self, available: Iterable[str], where: str) -> None:
        """Refuse a file whose field list lacks a mapped field (naming each)."""
        names = set(available)
        missing = [
            f"{where} : champ « {m.source} » absent du fichier (il alimente « {m.field} »)"
            for m in self.entries
            if not m.optional and m.source not in names and m.field not in names
        ]
        if missing:
            raise MissingFields(missing)

    def apply(self, props: dict[str, Any], where: str, report: Report) -> dict[str, Any] | None:
        """The properties under the catalogue's names and types; None (reported) when refused."""
        if not self.active:
            return props
        out = dict(props)
        ok = True
        for m in self.entries:
            if m.source in out:
                value = out.pop(m.source)
            elif m.field in out:
                value = out[m.field]
            else:
                continue
            try:
                value = self._convert(m, value)
            except ValueError as exc:
                report(where, f"champ « {m.source} » (→ « {m.field} ») : {exc}, trouvé {value!r}")
                ok = False
                continue
            out[m.field] = value
        if self.entries:
            out = {k: v for k, v in out.items() if k in self.keep}
        if self.typed:
            for name, value in list(out.items()):
                ftype = self.types.get(name)
                if ftype is None or value is None:
                    continue
                try:
                    out[name] = coerce(ftype, value)
                except ValueError as exc:
                    report(where, f"champ « {name} » : {exc}, trouvé {value!r}")
                    ok = False
        return out if ok else None

    def _convert(self, m: Any, value: Any) -> Any:
        if m.values is not None and value is not None:
            key = coerce("str", value) if not isinstance(value, str) else value.strip()
            value = m.values.get(key, value)
        ftype = self.types[m.field]
        value = coerce(ftype, value)
        factor = self.factors.get(m.field)
        if factor is not None and value is not None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError("nombre attendu")
            value = value * factor
            if ftype == "int":
                value = round(value)
            else:
                value = round(value, 9)
        return value
