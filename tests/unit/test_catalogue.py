"""Catalogue: the demo territory, round trips, access to features, the spatial index loader."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import catalogue, imports
from app.auth import get_user_by_login
from app.db import connect
from app.demo import DEMO_ACCOUNTS
from tests.conftest import T0, Runner


@pytest.fixture
def tdb(territory_app: Flask) -> Any:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


def test_demo_territory_has_the_50_real_communes(tdb: Any) -> None:
    communes = list(catalogue.features(tdb, "communes"))
    assert len(communes) == 50
    assert sum(f["properties"]["population"] for f in communes) == 77990
    assert catalogue.require_dataset(tdb, "communes").revision == 1


def test_every_catalogue_dataset_is_loaded(tdb: Any) -> None:
    import yaml

    doc = yaml.safe_load((Path(__file__).parents[2] / "data" / "catalogue.yaml").read_text())
    for spec in doc["datasets"]:
        ds = catalogue.require_dataset(tdb, spec["slug"])
        assert ds.feature_count > 0, spec["slug"]
        assert ds.owner_slug == spec["owner"] and ds.sensitivity == spec["sensitivity"]
        assert ds.bbox is not None


PUBLIC = [
    "communes",
    "territory",
    "seine",
    "roads",
    "seveso-sites",
    "ppi",
    "population-grid",
    "schools",
    "health-care",
    "flood-extents",
]


@pytest.mark.parametrize("slug", PUBLIC)
@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_round_trip_export_import_gives_the_same_features(
    tdb: Any, tmp_path: Path, slug: str, fmt: str
) -> None:
    ds = catalogue.require_dataset(tdb, slug)
    assert ds.is_public
    original = list(catalogue.public_features(tdb, slug))
    path = tmp_path / f"{slug}.{fmt}"
    with path.open("w", encoding="utf-8", newline="") as fh:
        assert catalogue.export_file(ds, catalogue.public_features(tdb, slug), fh, fmt) == len(
            original
        )
    result = imports.import_file(tdb, T0, slug, path, actor="t", replace=True)
    assert result.features == len(original)
    again = list(catalogue.public_features(tdb, slug))

    def norm(feats: list[dict[str, Any]]) -> list[Any]:
        # CSV cannot tell a null from an absent property.
        return [
            (f["id"], f["geometry"], {k: v for k, v in f["properties"].items() if v is not None})
            for f in feats
        ]

    if fmt == "geojson":
        assert again == original
    else:
        assert norm(again) == norm(original)


def test_restricted_and_personal_features_are_refused(tdb: Any) -> None:
    for slug in ("gas-network", "vulnerable-persons", "plant-inventory"):
        with pytest.raises(catalogue.NotPublic):
            catalogue.public_features(tdb, slug)
        # Metadata stays visible to all.
        assert catalogue.require_dataset(tdb, slug).feature_count > 0


def test_export_cli_refuses_restricted(territory_app: Flask, tmp_path: Path) -> None:
    runner = Runner({"CRISIS_DB": territory_app.config["CRISIS_DB"], "CRISIS_SECRET_KEY": "x"})
    out = tmp_path / "v.geojson"
    result = runner("export", "vulnerable-persons", str(out))
    assert result.exit_code == 2 and "bris de glace" in result.output
    assert not out.exists()
    result = runner("export", "schools", str(tmp_path / "s.csv"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.csv").read_text().startswith("id,name,type")


def test_list_filters_and_may_manage(tdb: Any) -> None:
    network = catalogue.list_datasets(tdb, theme="network")
    assert network and all(d.theme == "network" for d in network)
    grdf = catalogue.list_datasets(tdb, owner="grdf")
    assert {d.slug for d in grdf} == {"gas-network", "gas-assets"}
    personal = catalogue.list_datasets(tdb, sensitivity="personal")
    assert [d.slug for d in personal] == ["vulnerable-persons"]
    steward = get_user_by_login(tdb, "steward")  # GRDF
    cell = get_user_by_login(tdb, "cell")
    assert catalogue.may_manage(steward, catalogue.require_dataset(tdb, "gas-network"))
    assert not catalogue.may_manage(steward, catalogue.require_dataset(tdb, "communes"))
    assert not catalogue.may_manage(cell, catalogue.require_dataset(tdb, "gas-network"))
    assert {a.login for a in DEMO_ACCOUNTS} >= {"steward", "cell"}


def test_features_bbox_and_ids(tdb: Any) -> None:
    everything = list(catalogue.features(tdb, "schools"))
    some = list(catalogue.features(tdb, "schools", bbox=(0.5, 49.5, 0.6, 49.6)))
    assert 0 < len(some) < len(everything)
    for f in some:
        lon, lat = f["geometry"]["coordinates"]
        assert 0.5 <= lon <= 0.6 and 49.5 <= lat <= 49.6
    one = everything[0]["id"]
    assert [f["id"] for f in catalogue.features(tdb, "schools", ids=[one])] == [one]


def test_layer_data_feeds_the_spatial_index(tdb: Any) -> None:
    from app.geo.index import SpatialIndex

    index = SpatialIndex(
        lambda s: catalogue.layer_data(tdb, s), lambda s: catalogue.revision_of(tdb, s)
    )
    layer = index.layer("schools")
    assert layer.revision == catalogue.revision_of(tdb, "schools")
    assert index.layer("schools") is layer
    buf = io.StringIO(json.dumps({"type": "FeatureCollection", "features": []}))
    assert buf  # an import bumps the revision: the index rebuilds
    ds = catalogue.require_dataset(tdb, "schools")
    feats = list(catalogue.features(tdb, "schools", ids=[layer_id(layer)]))
    prepared = [
        catalogue.PreparedFeature(f["id"], f["geometry"], f["properties"], (0.5, 49.5, 0.5, 49.5))
        for f in feats
    ]
    catalogue.write_features(tdb, T0, "schools", prepared, actor="t", file_name="x")
    assert index.layer("schools") is not layer
    assert index.layer("schools").revision == ds.revision + 1


def layer_id(layer: Any) -> str:
    return str(layer.ids[0])


def test_stored_rows_build_the_same_layers_as_the_geojson_path(tdb: Any) -> None:
    # The index reads points from the box columns and parses line/polygon text with numpy:
    # every layer of the demo territory must equal the one built from json.loads'd features.
    import numpy as np
    import shapely

    from app.geo.index import build_layer

    for ds in catalogue.list_datasets(tdb):
        a = build_layer(ds.slug, catalogue.layer_data(tdb, ds.slug))
        b = build_layer(ds.slug, catalogue.layer_rows(tdb, ds.slug))
        assert b.revision == a.revision == ds.revision, ds.slug
        assert list(b.ids) == list(a.ids), ds.slug
        assert list(b.properties) == list(a.properties), ds.slug
        if a.kind == "point":
            for name in ("x", "y", "lon", "lat"):
                assert np.array_equal(getattr(a, name), getattr(b, name)), (ds.slug, name)
        else:
            assert list(shapely.get_type_id(b.geoms)) == list(shapely.get_type_id(a.geoms))
            assert all(shapely.equals_exact(a.geoms, b.geoms, 0)), ds.slug
    assert not tdb.conn.in_transaction  # the read snapshot ended with the chunks


def test_a_point_whose_box_is_not_a_point_is_read_from_its_geometry(tdb: Any) -> None:
    from app.geo.index import build_layer

    ds = catalogue.require_dataset(tdb, "schools")
    fid = next(catalogue.features(tdb, "schools"))["id"]
    with tdb.conn:  # a multipoint site (box of its points), as an older database may hold
        tdb.execute(
            "UPDATE features SET geometry = ?, minx = 0.5, miny = 49.5, maxx = 0.6, maxy = 49.6"
            " WHERE dataset_id = ? AND fid = ?",
            [
                json.dumps({"type": "MultiPoint", "coordinates": [[0.55, 49.55], [0.6, 49.6]]}),
                ds.id,
                fid,
            ],
        )
    layer = build_layer("schools", catalogue.layer_rows(tdb, "schools"))
    i = list(layer.ids).index(fid)
    assert (float(layer.lon[i]), float(layer.lat[i])) == (0.55, 49.55)


def test_a_point_is_stored_with_its_exact_coordinates_as_box(tdb: Any) -> None:
    feature = catalogue.PreparedFeature(
        "DEMO-box",
        {"type": "Point", "coordinates": [0.5123456, 49.5123456]},
        {"name": "FICTIF — boîte"},
        (0.51234561234, 49.51234559876, 0.51234561234, 49.51234559876),  # unrounded reprojection
    )
    catalogue.write_features(tdb, T0, "schools", [feature], actor="t", file_name="x")
    box = tdb.execute(
        "SELECT minx, miny, maxx, maxy FROM features WHERE fid = 'DEMO-box'"
    ).fetchone()
    assert tuple(box) == (0.5123456, 49.5123456, 0.5123456, 49.5123456)


def test_the_migration_makes_stored_point_boxes_exact(tdb: Any) -> None:
    from app import schema

    ds = catalogue.require_dataset(tdb, "schools")
    fid, geometry = tdb.execute(
        "SELECT fid, geometry FROM features WHERE dataset_id = ? LIMIT 1", [ds.id]
    ).fetchone()
    x, y = json.loads(geometry)["coordinates"]
    with tdb.conn:
        tdb.execute(
            "UPDATE features SET minx = minx + 1e-9, maxx = maxx + 1e-9 WHERE fid = ?", [fid]
        )
        schema.m0021_point_bbox(tdb)
    box = tdb.execute("SELECT minx, miny, maxx, maxy FROM features WHERE fid = ?", [fid]).fetchone()
    assert tuple(box) == (x, y, x, y)
