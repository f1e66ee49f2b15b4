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
