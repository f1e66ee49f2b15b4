"""Checks of the embedded demo territory (data/): catalogue, files, realism rules."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from pyproj import Transformer
from shapely.geometry import Point, shape

DATA = Path(__file__).resolve().parents[2] / "data"
TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "json": (dict, list, str, int, float, bool),
}
CONTRACT = {
    # slug: (owner, theme, geometry, sensitivity)
    "communes": ("caux-seine", "reference", "MultiPolygon", "public"),
    "territory": ("caux-seine", "reference", "MultiPolygon", "public"),
    "seine": ("caux-seine", "reference", "LineString", "public"),
    "roads": ("departement-76", "reference", "LineString", "public"),
    "seveso-sites": ("prefecture-76", "industrial", "Point", "public"),
    "plant-inventory": ("fictif-chimie", "industrial", "Point", "restricted"),
    "ppi": ("prefecture-76", "reference", "MultiPolygon", "public"),
    "population-grid": ("insee", "population", "Polygon", "public"),
    "schools": ("dsden-76", "population", "Point", "public"),
    "health-care": ("ars-normandie", "population", "Point", "public"),
    "gas-network": ("grdf", "network", "LineString", "restricted"),
    "gas-assets": ("grdf", "network", "Point", "restricted"),
    "gas-transport": ("grtgaz", "network", "LineString", "restricted"),
    "water-network": ("caux-seine", "network", "LineString", "restricted"),
    "water-assets": ("caux-seine", "network", "Point", "restricted"),
    "power-network": ("enedis", "network", "LineString", "restricted"),
    "power-assets": ("enedis", "network", "Point", "restricted"),
    "flood-extents": ("ddtm-76", "reference", "MultiPolygon", "public"),
    "vulnerable-persons": ("ccas-lillebonne", "population", "Point", "personal"),
    "reception-centres": ("caux-seine", "reference", "Point", "public"),
}
ORG_KINDS = {
    "agglomeration",
    "prefecture",
    "operator",
    "network_operator",
    "social_services",
    "state_service",
    "commune",
}


@cache
def catalogue() -> dict:
    return yaml.safe_load((DATA / "catalogue.yaml").read_text(encoding="utf-8"))


@cache
def datasets() -> dict[str, dict]:
    return {d["slug"]: d for d in catalogue()["datasets"]}


@cache
def features(slug: str) -> list[dict]:
    fc = json.loads((DATA / datasets()[slug]["file"]).read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection"
    return fc["features"]


@cache
def communes() -> dict[str, object]:
    return {f["id"]: shape(f["geometry"]) for f in features("communes")}


def is_synthetic(props: dict) -> bool:
    return str(props.get("source", "")).startswith("synthetic")


def test_catalogue_matches_the_contract():
    assert set(datasets()) == set(CONTRACT)
    orgs = {o["slug"]: o for o in catalogue()["organisations"]}
    for o in orgs.values():
        assert o["kind"] in ORG_KINDS
    for slug in ("caux-seine", "prefecture-76", "ccas-lillebonne", "fictif-chimie", "insee"):
        assert slug in orgs
    assert orgs["fictif-chimie"]["name"] == "FICTIF — Chimie de l'Estuaire"
    for slug, (owner, theme, geometry, sensitivity) in CONTRACT.items():
        d = datasets()[slug]
        assert (d["owner"], d["theme"], d["geometry_type"], d["sensitivity"]) == (
            owner,
            theme,
            geometry,
            sensitivity,
        ), slug
        assert d["owner"] in orgs
        assert d["title"] and d["description"] and d["source"]
        assert d["id_field"] in {f["name"] for f in d["fields"]}


@pytest.mark.parametrize("slug", sorted(CONTRACT))
def test_features_validate_against_declared_fields(slug):
    d = datasets()[slug]
    fields = {f["name"]: f for f in d["fields"]}
    feats = features(slug)
    assert feats, slug
    for f in feats:
        assert f["geometry"]["type"] == d["geometry_type"], (slug, f["id"])
        assert shape(f["geometry"]).is_valid, (slug, f["id"])
        props = f["properties"]
        assert set(props) <= set(fields), (slug, set(props) - set(fields))
        assert f["id"] == props[d["id_field"]]
        for name, spec in fields.items():
            value = props.get(name)
            if value is None:
                assert not spec["required"], (slug, f["id"], name)
                continue
            allowed = TYPES[spec["type"]]
            assert isinstance(value, allowed), (slug, f["id"], name, value)
            if spec["type"] in ("int", "float"):
                assert not isinstance(value, bool), (slug, f["id"], name)
            if "values" in spec:
                assert value in spec["values"], (slug, f["id"], name, value)


@pytest.mark.parametrize("slug", sorted(CONTRACT))
def test_ids_are_unique(slug):
    ids = [f["id"] for f in features(slug)]
    assert len(ids) == len(set(ids))


def test_fifty_communes_with_the_real_population():
    feats = features("communes")
    assert len(feats) == 50
    assert sum(f["properties"]["population"] for f in feats) == 77_990


def test_grid_sums_equal_commune_populations():
    sums: Counter[str] = Counter()
    for f in features("population-grid"):
        p = f["properties"]
        assert p["ind"] > 0
        sums[p["commune_insee"]] += p["ind"]
        assert abs(sum(p[k] for k in p if k.startswith("ind_")) - p["ind"]) < 0.05
    expected = {f["id"]: f["properties"]["population"] for f in features("communes")}
    assert dict(sums) == expected
    assert sum(sums.values()) == 77_990


def test_grid_cells_follow_the_insee_lattice():
    to_3035 = Transformer.from_crs(4326, 3035, always_xy=True)
    for f in features("population-grid")[::97]:
        idcar = f["id"]
        assert idcar.startswith("CRS3035RES200mN")
        n, e = idcar.removeprefix("CRS3035RES200mN").split("E")
        assert int(n) % 200 == 0 and int(e) % 200 == 0
        ring = f["geometry"]["coordinates"][0]
        assert len(ring) == 5 and ring[0] == ring[-1]
        x, y = to_3035.transform(*ring[0])
        assert abs(x - int(e)) < 1 and abs(y - int(n)) < 1
        centre = shape(f["geometry"]).centroid
        assert communes()[f["properties"]["commune_insee"]].contains(centre)


def test_synthetic_features_are_flagged():
    for slug, d in datasets().items():
        for f in features(slug):
            props = f["properties"]
            if slug == "seveso-sites" and f["id"] == "FICTIF-1":
                assert props["source"] == "synthetic"
                continue
            if not d["source"].startswith("synthetic"):
                assert not is_synthetic(props), (slug, f["id"])
                continue
            assert is_synthetic(props), (slug, f["id"])
            if slug == "population-grid":
                continue  # identified by the INSEE cell code
            assert f["id"].startswith("DEMO-"), (slug, f["id"])
            if "name" in props and slug != "roads":  # roads keep their real names
                assert props["name"].startswith("FICTIF — "), (slug, f["id"])


def test_synthetic_points_are_inside_the_territory_and_their_commune():
    outline = shape(features("territory")[0]["geometry"])
    shapely.prepare(outline)
    for slug, d in datasets().items():
        if d["geometry_type"] != "Point":
            continue
        for f in features(slug):
            if not is_synthetic(f["properties"]):
                continue
            p = shape(f["geometry"])
            assert outline.contains(p), (slug, f["id"])
            insee = f["properties"].get("commune_insee")
            if insee:
                assert communes()[insee].contains(p), (slug, f["id"])


def test_flood_levels_are_nested_and_multipart():
    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
    floods = sorted(features("flood-extents"), key=lambda f: f["properties"]["seine_level_m"])
    assert len(floods) >= 3
    geoms = [
        shapely.transform(
            shape(f["geometry"]),
            lambda c: np.column_stack(to_l93.transform(c[:, 0], c[:, 1])),
        )
        for f in floods
    ]
    for lower, higher in zip(geoms, geoms[1:], strict=False):
        assert lower.difference(higher.buffer(0.5)).area < 1.0  # m², coordinate rounding only
        assert higher.area > lower.area
    assert any(len(g.geoms) > 1 for g in geoms)


def test_fictif_1_has_effects_and_real_sites_have_none():
    sites = {f["id"]: f for f in features("seveso-sites")}
    fictif = sites.pop("FICTIF-1")
    assert fictif["properties"]["effects"] == {
        "toxic": {"SELS": 900, "SEL": 1600, "SEI": 3800},
        "thermal": {"8kW": 180, "5kW": 260, "3kW": 370},
        "overpressure": {"200mbar": 140, "140mbar": 210, "50mbar": 520, "20mbar": 1100},
    }
    assert fictif["properties"]["name"].startswith("FICTIF — ")
    assert communes()["76476"].contains(shape(fictif["geometry"]))
    assert len(sites) == 13  # 14 listed sites, Natup has no known position
    for f in sites.values():
        assert "effects" in f["properties"] and f["properties"]["effects"] is None
        assert not f["properties"]["name"].startswith("FICTIF")


def test_fictif_1_is_near_but_not_on_the_refinery():
    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
    sites = {f["id"]: f for f in features("seveso-sites")}
    refinery = next(f for f in sites.values() if f["properties"]["name"].startswith("Esso"))
    a = Point(to_l93.transform(*sites["FICTIF-1"]["geometry"]["coordinates"]))
    b = Point(to_l93.transform(*refinery["geometry"]["coordinates"]))
    assert 500 <= a.distance(b) <= 1000


def test_bridges_and_road_segments():
    roads = features("roads")
    bridges = {f["properties"]["name"] for f in roads if f["properties"]["kind"] == "bridge"}
    assert {"Pont de Tancarville", "Pont de Brotonne"} <= bridges
    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
    for f in roads:
        xs, ys = zip(*f["geometry"]["coordinates"], strict=True)
        length = shapely.LineString(zip(*to_l93.transform(xs, ys), strict=True)).length
        assert length <= 2100, f["id"]


def test_vulnerable_persons_are_fictitious():
    persons = features("vulnerable-persons")
    assert 140 <= len(persons) <= 170
    for f in persons:
        assert f["properties"]["phone"].startswith("01 99 00 ")
        assert f["properties"]["address"].startswith("FICTIF — ")


def test_coordinates_have_at_most_six_decimals():
    for slug in ("schools", "roads", "flood-extents"):
        text = (DATA / f"{slug}.geojson").read_text(encoding="utf-8")
        coords = shapely.get_coordinates(
            shapely.from_geojson(json.dumps(json.loads(text)["features"][0]["geometry"]))
        )
        assert all(round(v, 6) == v for v in coords.ravel())
