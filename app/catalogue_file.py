"""The catalogue file (``data/catalogue.yaml``) as pydantic models.

One place says what the file may hold. Every mapping is closed (an unknown key is an error, so a
typo never passes silently) and every error names the file and the key path
(``catalogue.yaml, datasets[3] (roads).fields[2].type : …``).

Extending the file is one field each: a per-dataset key goes on :class:`DatasetSpec` (the
``remote:`` source), a top-level list on :class:`CatalogueFile` (``basemaps:``); their contents are
validated by their owners (``app.remote.spec``, ``app.basemap``).

A dataset may declare a **field mapping** (``mapping:``): the owner's field names, types and units
mapped once onto the catalogue's fields, reused at every import (:mod:`app.field_mapping`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import fr
from .errors import DomainError

FieldType = Literal["str", "int", "float", "bool", "json"]
Theme = Literal["industrial", "network", "population", "reference"]
Sensitivity = Literal["public", "restricted", "personal"]
GeometryType = Literal["Point", "LineString", "Polygon", "MultiLineString", "MultiPolygon"]

# Units a field or a mapped source may be stated in: (quantity, factor to the quantity's base).
UNITS: dict[str, tuple[str, float]] = {
    "mm": ("longueur", 0.001),
    "cm": ("longueur", 0.01),
    "dm": ("longueur", 0.1),
    "m": ("longueur", 1.0),
    "km": ("longueur", 1000.0),
    "in": ("longueur", 0.0254),
    "Pa": ("pression", 1.0),
    "hPa": ("pression", 100.0),
    "kPa": ("pression", 1000.0),
    "MPa": ("pression", 1e6),
    "mbar": ("pression", 100.0),
    "bar": ("pression", 1e5),
    "g": ("masse", 0.001),
    "kg": ("masse", 1.0),
    "t": ("masse", 1000.0),
    "V": ("tension", 1.0),
    "kV": ("tension", 1000.0),
    "m2": ("surface", 1.0),
    "ha": ("surface", 1e4),
    "km2": ("surface", 1e6),
    "m3": ("volume", 1.0),
    "L": ("volume", 0.001),
}


def unit_factor(source: str, target: str) -> float:
    """The factor turning a value in ``source`` units into ``target`` units."""
    (q1, f1), (q2, f2) = UNITS[source], UNITS[target]
    if q1 != q2:
        raise ValueError(f"unités incompatibles : « {source} » ({q1}) vers « {target} » ({q2})")
    return f1 / f2


def _unit(value: str | None) -> str | None:
    if value is not None and value not in UNITS:
        raise ValueError(f"unité « {value} » inconnue ({', '.join(UNITS)})")
    return value


def check_coverage(value: Any) -> Any:
    """``territory``, or a valid, non-empty GeoJSON Polygon/MultiPolygon in WGS84 degrees."""
    if value == "territory":
        return value
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("« territory » ou une géométrie GeoJSON Polygon/MultiPolygon attendue")
    from shapely.geometry import shape

    try:
        geom = shape(value)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ValueError(f"géométrie illisible ({exc})") from None
    if geom.is_empty or not geom.is_valid:
        raise ValueError("polygone vide ou invalide")
    x0, y0, x1, y1 = geom.bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise ValueError("coordonnées hors des degrés WGS84 (longitude, latitude)")
    return value


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FieldSpec(_Closed):
    """One property of a dataset's features."""

    name: str = Field(min_length=1)
    type: FieldType = "str"
    required: bool = False
    label: str = ""
    values: tuple[Any, ...] | None = None
    unit: str | None = None

    _check_unit = field_validator("unit")(_unit)


class FieldMap(_Closed):
    """One owner's field mapped onto a catalogue field."""

    source: str = Field(min_length=1)
    field: str = Field(min_length=1)
    unit: str | None = None  # the source's unit; the catalogue field's `unit` is the target
    values: dict[str, Any] | None = None  # the owner's codes → the catalogue's values
    optional: bool = False  # a file without this field is still accepted

    _check_unit = field_validator("unit")(_unit)

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML reads `1: x` as an int key; source values are compared as text.
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value


class DatasetSpec(_Closed):
    """A dataset of the catalogue, as declared in the file."""

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)
    title: str = Field(min_length=1)
    description: str = ""
    owner: str = Field(min_length=1)
    theme: Theme
    geometry_type: GeometryType
    sensitivity: Sensitivity
    id_field: str = "id"
    file: str | None = None
    source: str = ""
    fields: tuple[FieldSpec, ...] = ()
    mapping: tuple[FieldMap, ...] = ()
    # Kept by its owner (OGC API / WFS): the block is validated by app.remote.spec.parse_remote.
    remote: dict[str, Any] | None = None
    # Where the dataset is complete: the territory's outline, or a GeoJSON (Multi)Polygon in
    # WGS84 degrees; a zone reaching beyond says so with its figures (app.geo.impact).
    coverage: Literal["territory"] | dict[str, Any] = "territory"

    @field_validator("coverage")
    @classmethod
    def _coverage(cls, value: Any) -> Any:
        return check_coverage(value)

    @model_validator(mode="after")
    def _coherent(self) -> DatasetSpec:
        names = [f.name for f in self.fields]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"champ « {name} » déclaré deux fois dans « fields »")
        by_name = {f.name: f for f in self.fields}
        targets: set[str] = set()
        for m in self.mapping:
            target = by_name.get(m.field)
            if target is None:
                raise ValueError(
                    f"mapping : « {m.source} » vers « {m.field} », qui n'est pas un champ du jeu"
                    f" ({', '.join(names) or 'aucun champ'})"
                )
            if m.field in targets:
                raise ValueError(f"mapping : le champ « {m.field} » reçoit deux sources")
            targets.add(m.field)
            if m.unit is not None:
                if target.unit is None:
                    raise ValueError(
                        f"mapping : « {m.source} » en « {m.unit} » mais le champ « {m.field} »"
                        " n'a pas d'unité (ajoutez `unit:` au champ)"
                    )
                if target.type not in ("int", "float"):
                    raise ValueError(f"mapping : « {m.field} » n'est pas numérique (unité)")
                unit_factor(m.unit, target.unit)
        return self

    def as_record(self) -> dict[str, Any]:
        """The dict shape :func:`app.catalogue.ensure_dataset` stores."""
        return self.model_dump(mode="json", exclude_none=True)


class OrganisationSpec(_Closed):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)
    name: str = Field(min_length=1)
    kind: str = "other"


class CatalogueFile(_Closed):
    """The whole file: organisations, then datasets."""

    organisations: tuple[OrganisationSpec, ...] = ()
    datasets: tuple[DatasetSpec, ...] = ()
    # Raster basemaps (MBTiles, PMTiles): each entry validated by app.basemap.parse_basemaps.
    basemaps: tuple[dict[str, Any], ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> CatalogueFile:
        seen: set[str] = set()
        for d in self.datasets:
            if d.slug in seen:
                raise ValueError(f"jeu de données « {d.slug} » déclaré deux fois")
            seen.add(d.slug)
        orgs = {o.slug for o in self.organisations}
        if orgs:
            for d in self.datasets:
                if d.owner not in orgs:
                    raise ValueError(
                        f"« {d.slug} » : organisation « {d.owner} » absente de « organisations »"
                    )
        return self

    def dataset(self, slug: str) -> DatasetSpec | None:
        return next((d for d in self.datasets if d.slug == slug), None)

    @property
    def slugs(self) -> set[str]:
        return {d.slug for d in self.datasets}


class CatalogueFileError(DomainError):
    """The catalogue file is unreadable or invalid; the message names the file and the key."""


_MESSAGES = {
    "missing": "clé obligatoire manquante",
    "extra_forbidden": "clé inconnue",
    "string_type": "texte attendu",
    "bool_type": "booléen attendu (true/false)",
    "bool_parsing": "booléen attendu (true/false)",
    "dict_type": "table (clé: valeur) attendue",
    "tuple_type": "liste attendue",
    "list_type": "liste attendue",
    "model_type": "table (clé: valeur) attendue",
    "string_too_short": "texte vide",
    "string_too_long": "texte trop long",
    "string_pattern_mismatch": "minuscules, chiffres et tirets attendus",
}


def _where(doc: Any, loc: tuple[Any, ...]) -> str:
    """datasets[3] (roads).fields[2].type, from a pydantic error location."""
    parts: list[str] = []
    node = doc
    for key in loc:
        if isinstance(key, int):
            parts.append(f"[{key}]")
            node = node[key] if isinstance(node, list) and key < len(node) else None
            slug = node.get("slug") or node.get("name") if isinstance(node, dict) else None
            if isinstance(slug, str):
                parts.append(f" ({slug})")
        else:
            parts.append(("." if parts else "") + str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts) or "racine"


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"valeur « {err.get('input')} » non permise (attendu : {expected})"
    if kind == "value_error":
        return str(err.get("ctx", {}).get("error", err["msg"]))
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    return str(err["msg"])


def parse_catalogue(doc: Any, name: str = "catalogue.yaml") -> CatalogueFile:
    """Validate an already loaded document; CatalogueFileError naming ``name`` and the key."""
    if doc is None:
        doc = {}
    try:
        return CatalogueFile.model_validate(doc)
    except ValidationError as exc:
        lines = []
        for err in exc.errors()[:10]:
            loc = tuple(
                x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function"))
            )
            lines.append(f"{name}, {_where(doc, loc)} : {_message(err)}")
        more = exc.error_count() - len(lines)
        if more > 0:
            lines.append(f"… et {fr.count(more, 'autre erreur', 'autres erreurs')}")
        raise CatalogueFileError("\n".join(lines)) from None


def load_catalogue(path: str | Path) -> CatalogueFile:
    """Read and validate a catalogue file."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueFileError(f"{path.name} : illisible ({exc})") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", ligne {mark.line + 1}" if mark is not None else ""
        raise CatalogueFileError(f"{path.name}{where} : YAML invalide") from None
    return parse_catalogue(doc, path.name)
