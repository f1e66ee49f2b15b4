"""Département scale (1,000,000 points, 500,000 segments, 250,000 cells; bench/departement.py).

The fast loader (box columns, numpy-parsed geometry text, properties kept as text) builds the
same layers as the JSON path, the layer files give them back identical, and the analysis of a
10 km circle equals an independent plain shapely computation. Minutes and a few GB of memory:
run with ``make test-slow`` (CRISIS_SLOW=1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely import STRtree
from shapely.geometry import Point

from app import catalogue, situation
from app.db import connect
from app.geo import proj
from app.geo.impact import analyse
from app.geo.index import SpatialIndex, build_layer
from app.geo.store import LayerStore
from app.geo.zones import circle

pytestmark = pytest.mark.slow

BIG = ("etablissements-76", "water-network", "population-grid")


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from bench.departement import departement_database

    work = tmp_path_factory.mktemp("departement")
    db = connect(departement_database(work / "departement.db", work, 1.0))
    yield db
    db.conn.close()


def test_stored_rows_build_the_same_big_layers(dep: Any, tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "files")
    for slug in BIG:
        reference = build_layer(slug, catalogue.layer_data(dep, slug))
        rows = catalogue.layer_rows(dep, slug)
        fast = build_layer(slug, rows)
        assert store.save(fast, rows.token)
        kept = store.load(slug, rows.token)
        assert kept is not None
        for layer in (fast, kept):
            assert len(layer) == len(reference)
            assert list(layer.ids) == list(reference.ids), slug
            assert layer.properties.rows() == reference.properties.rows(), slug
            if layer.kind == "point":
                for name in ("x", "y", "lon", "lat"):
                    assert np.array_equal(getattr(layer, name), getattr(reference, name))
            else:
                assert bool(np.all(shapely.equals_exact(layer.geoms, reference.geoms, 0)))
        del reference, fast, kept


def test_a_10_km_circle_equals_plain_shapely(dep: Any) -> None:
    layers = situation.read_layers(dep)
    index = SpatialIndex(lambda slug: catalogue.layer_rows(dep, slug))
    x, y = proj.lonlat_to_l93(0.548, 49.47)  # FICTIF-1
    source = Point(float(x), float(y))
    geom = circle(source, 10_000.0)
    from app.geo.zones import Zone

    zone = Zone("z", "10 km", "yellow", "test", "10 km", "circle", geom, 10_000.0, "playbook", {})
    impact = analyse([zone], index, layers.specs, source)
    z = impact.zones[0]

    points = index.layer("etablissements-76")
    tree = STRtree(points.point_geoms())
    expected_points = len(tree.query(geom, predicate="intersects"))
    assert {o["dataset"]: o["count"] for o in z.other}["etablissements-76"] == expected_points
    assert expected_points > 20_000

    network = index.layer("water-network")
    hit = STRtree(network.geoms).query(geom, predicate="intersects")
    length = float(shapely.length(shapely.intersection(network.geoms[hit], geom)).sum())
    counted = {r["dataset"]: r for r in z.restricted}["water-network"]
    assert counted["count"] == len(hit)
    assert counted["length_m"] == pytest.approx(round(length, 1), abs=0.11)

    grid = index.layer("population-grid")
    hit = STRtree(grid.geoms).query(geom, predicate="intersects")
    cells = grid.geoms[hit]
    ind = grid.properties.numeric("ind", hit)
    people = float(
        (ind * shapely.area(shapely.intersection(cells, geom)) / shapely.area(cells)).sum()
    )
    assert z.population is not None
    assert z.population["total"] == pytest.approx(people, rel=1e-9)
