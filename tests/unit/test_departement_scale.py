"""The département-scale import (slow: `make test-slow`): 1 M points, 500 k segments, 250 k cells
from a GeoPackage, a FlatGeobuf and a zipped Shapefile, each checked against its source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import shapely

from app.db import connect, scalar
from bench import bench_departement as bench


@pytest.mark.slow
def test_departement_imports_in_full(tmp_path: Path) -> None:
    folder = tmp_path / "departement"
    sizes = bench.generator().generate(folder, 1.0)
    db = connect(tmp_path / "departement.db")
    try:
        bench.prepare(db, folder)
        for slug, name, layer in bench.LAYERS:
            bench.import_layer(db, folder, slug, name, layer)
        count = {
            slug: scalar(
                db,
                "SELECT feature_count FROM datasets WHERE slug = ?",
                [slug],
            )
            for slug, _, _ in bench.LAYERS
        }
        assert count == {
            "schools": sizes["points"],
            "water-network": sizes["segments"],
            "population-grid": sizes["cells"],
        }
        _spot_check(db, folder)
    finally:
        db.conn.close()


def _spot_check(db: Any, folder: Path) -> None:
    """A few features of each layer against the files, read back with pyogrio."""
    from pyogrio import raw

    from app import catalogue

    meta, _, geoms, values = raw.read(folder / "etablissements.fgb", max_features=3)
    ids = list(values[list(meta["fields"]).index("id")])
    stored = {f["id"]: f for f in catalogue.features(db, "schools", ids=ids)}
    for fid, wkb in zip(ids, geoms, strict=True):
        point = shapely.from_wkb(wkb)
        assert stored[fid]["geometry"]["coordinates"] == [point.x, point.y]
    water = next(catalogue.features(db, "water-network", ids=["DEMO-DEP-W0"]))
    assert water["properties"]["diameter_mm"] % 10 == 0  # centimetres converted to millimetres
    assert water["properties"]["kind"] in ("distribution", "adduction")
    cell = next(catalogue.features(db, "population-grid", ids=["DEMO-DEP-C0-0"]))
    ring = cell["geometry"]["coordinates"][0]
    assert len(ring) == 5 and 0.1 < ring[0][0] < 1.8  # reprojected from Lambert-93
