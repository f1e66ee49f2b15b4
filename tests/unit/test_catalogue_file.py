"""The catalogue file as pydantic models: the demo file loads, bad keys are named, mappings hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import catalogue_file
from app.catalogue import GEOMETRY_TYPES, SENSITIVITIES, THEMES
from app.catalogue_file import CatalogueFileError, load_catalogue, parse_catalogue

DATA = Path(__file__).resolve().parents[2] / "data"


def dataset(**over: Any) -> dict[str, Any]:
    spec = {
        "slug": "gas-x",
        "title": "Gaz",
        "owner": "grdf",
        "theme": "network",
        "geometry_type": "LineString",
        "sensitivity": "restricted",
        "fields": [
            {"name": "id", "required": True},
            {"name": "diameter_mm", "type": "int", "unit": "mm"},
            {"name": "material"},
        ],
    }
    spec.update(over)
    return spec


def test_the_demo_catalogue_loads() -> None:
    doc = load_catalogue(DATA / "catalogue.yaml")
    assert "roads" in doc.slugs and doc.dataset("communes").id_field == "insee"
    # The file's Literal types and the console's tables say the same.
    assert set(catalogue_file.Theme.__args__) == set(THEMES)
    assert set(catalogue_file.Sensitivity.__args__) == set(SENSITIVITIES)
    assert set(catalogue_file.GeometryType.__args__) == set(GEOMETRY_TYPES)


@pytest.mark.parametrize(
    "doc,words",
    [
        ({"datasets": [dataset(theme="weather")]}, ["datasets[0] (gas-x).theme", "weather"]),
        ({"datasets": [dataset(colour="red")]}, ["datasets[0] (gas-x).colour", "clé inconnue"]),
        ({"datasets": [dataset(title=None)]}, ["datasets[0] (gas-x).title"]),
        (
            {"datasets": [dataset(fields=[{"name": "id", "type": "text"}])]},
            ["fields[0] (id).type", "text"],
        ),
        (
            {"datasets": [dataset(mapping=[{"source": "DIAM", "field": "diametre"}])]},
            ["datasets[0] (gas-x)", "« diametre »", "pas un champ"],
        ),
        (
            {
                "datasets": [
                    dataset(mapping=[{"source": "DIAM", "field": "diameter_mm", "unit": "kV"}])
                ]
            },
            ["incompatibles", "kV"],
        ),
        (
            {
                "datasets": [
                    dataset(mapping=[{"source": "D", "field": "diameter_mm", "unit": "pouce"}])
                ]
            },
            ["mapping[0]", "unit", "pouce", "inconnue"],
        ),
        ({"datasets": [dataset(), dataset()]}, ["gas-x", "deux fois"]),
        (
            {"organisations": [{"slug": "x", "name": "X"}], "datasets": [dataset()]},
            ["grdf", "absente"],
        ),
    ],
    ids=["theme", "unknown-key", "title", "field-type", "target", "units", "unit", "dup", "owner"],
)
def test_errors_name_the_file_and_the_key(doc: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(CatalogueFileError) as err:
        parse_catalogue(doc, "catalogue.yaml")
    text = str(err.value)
    assert text.startswith("catalogue.yaml")
    for word in words:
        assert word in text, (word, text)


def test_a_broken_yaml_file_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "catalogue.yaml"
    bad.write_text("datasets:\n  - slug: a\n   title: [\n", "utf-8")
    with pytest.raises(CatalogueFileError, match=r"catalogue.yaml, ligne \d+ : YAML invalide"):
        load_catalogue(bad)


def test_mapping_with_units_and_codes_is_accepted() -> None:
    doc = parse_catalogue(
        {
            "datasets": [
                dataset(
                    mapping=[
                        {"source": "DIAM_CM", "field": "diameter_mm", "unit": "cm"},
                        {"source": "MAT", "field": "material", "values": {1: "PE", "2": "acier"}},
                    ]
                )
            ]
        }
    )
    mapping = doc.datasets[0].mapping
    assert mapping[1].values == {"1": "PE", "2": "acier"}
    assert catalogue_file.unit_factor("cm", "mm") == pytest.approx(10.0)


def test_remote_and_basemaps_are_one_field_each() -> None:
    """The owners of those blocks validate their contents; the file model carries them."""
    remote = {"kind": "ogcapi", "url": "https://sig.owner.example/ogc", "collection": "reseau"}
    doc = parse_catalogue(
        {
            "datasets": [dataset(remote=remote)],
            "basemaps": [{"name": "plan", "file": "basemaps/plan.mbtiles"}],
        }
    )
    assert doc.datasets[0].remote == remote
    assert doc.datasets[0].as_record()["remote"] == remote
    assert doc.basemaps[0]["name"] == "plan"
    with pytest.raises(CatalogueFileError, match="fonds_de_carte : clé inconnue"):
        parse_catalogue({"fonds_de_carte": []})


def test_each_dataset_says_where_it_is_complete() -> None:
    """Guards item 3 (issue 13): `coverage` is `territory` (every demo dataset says so) or a
    valid WGS84 polygon; anything else is refused naming the key."""
    doc = load_catalogue(DATA / "catalogue.yaml")
    assert {d.coverage for d in doc.datasets} == {"territory"}
    square = {
        "type": "Polygon",
        "coordinates": [[[0.3, 49.4], [0.9, 49.4], [0.9, 49.7], [0.3, 49.4]]],
    }
    parsed = parse_catalogue({"datasets": [dataset(coverage=square)]})
    assert parsed.datasets[0].coverage == square
    for bad in (
        "everywhere",
        {"type": "Point", "coordinates": [0.5, 49.5]},
        {"type": "Polygon", "coordinates": [[[300, 49], [301, 49], [301, 50], [300, 49]]]},
    ):
        with pytest.raises(CatalogueFileError, match="coverage"):
            parse_catalogue({"datasets": [dataset(coverage=bad)]})
