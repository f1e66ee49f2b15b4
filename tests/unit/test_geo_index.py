"""Spatial index: lazy builds, staleness, threads, projected storage."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from app.geo import proj
from app.geo.index import LayerData, PropertyTable, SpatialIndex, build_layer


def wgs(geom):
    return proj.shape_to_geojson(proj.to_wgs84(geom), precision=None)


def points_data(revision=1):
    xs = [510_000.0, 500_000.0, 505_000.0]
    return LayerData(
        revision=revision,
        geometry_type="Point",
        ids=["DEMO-a", "DEMO-b", "DEMO-c"],
        geometries=[wgs(Point(x, 6_930_000.0)) for x in xs],
        properties=[
            {"name": "FICTIF — A", "capacity": 10},
            {"name": "FICTIF — B", "capacity": 20},
            {"name": "FICTIF — C", "capacity": 30, "type": "ecole"},
        ],
    )


class FakeCatalogue:
    def __init__(self):
        self.revisions = {"pts": 1}
        self.loads = 0
        self.delay = 0.0

    def load(self, slug):
        self.loads += 1
        time.sleep(self.delay)
        return points_data(self.revisions[slug])

    def revision_of(self, slug):
        return self.revisions[slug]


def test_points_are_projected_sorted_and_consistent():
    layer = build_layer("pts", points_data())
    assert layer.kind == "point" and len(layer) == 3
    assert list(layer.ids) == ["DEMO-b", "DEMO-c", "DEMO-a"]  # sorted by x
    assert np.allclose(layer.x, [500_000, 505_000, 510_000], atol=1e-6)
    assert np.allclose(layer.y, 6_930_000, atol=1e-6)
    assert layer.properties[0] == {"name": "FICTIF — B", "capacity": 20}
    assert layer.properties[1]["type"] == "ecole"
    assert type(layer.properties[1]["capacity"]) is int
    assert list(layer.points_in(box(499_000, 6_929_000, 506_000, 6_931_000))) == [0, 1]
    g = layer.geojson(2)
    assert g["type"] == "Point" and 0 < g["coordinates"][0] < 1


def test_lazy_build_and_revision_rebuild():
    cat = FakeCatalogue()
    index = SpatialIndex(cat.load, cat.revision_of)
    assert cat.loads == 0
    first = index.layer("pts")
    assert index.layer("pts") is first and cat.loads == 1
    cat.revisions["pts"] = 2
    second = index.layer("pts")
    assert second is not first and second.revision == 2 and cat.loads == 2
    index.invalidate("pts")
    assert index.layer("pts") is not second and cat.loads == 3


def test_without_revision_of_layer_stays_until_invalidated():
    cat = FakeCatalogue()
    index = SpatialIndex(cat.load)
    a = index.layer("pts")
    cat.revisions["pts"] = 5
    assert index.layer("pts") is a
    index.invalidate()
    assert index.layer("pts").revision == 5


def test_concurrent_requests_build_once():
    cat = FakeCatalogue()
    cat.delay = 0.05
    index = SpatialIndex(cat.load, cat.revision_of)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(index.layer("pts"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cat.loads == 1 and index.builds == 1
    assert all(r is results[0] for r in results)


def test_lines_and_mixed_polygons_use_ragged_fast_path():
    lines = [LineString([(500_000, 6_930_000), (501_000, 6_930_000)]), LineString()]
    data = LayerData(
        1,
        "LineString",
        ["l1", "l2"],
        [wgs(lines[0]), {}],
        [{"pressure": "MP"}, {"pressure": "BP"}],
    )
    layer = build_layer("net", data)
    assert layer.geoms[0].length == pytest.approx(1000, abs=1e-6)
    assert layer.geoms[1].is_empty
    assert list(layer.query(box(500_400, 6_929_000, 500_600, 6_931_000), "intersects")) == [0]

    square = box(500_000, 6_930_000, 500_200, 6_930_200)
    multi = box(600_000, 6_930_000, 600_100, 6_930_100).union(
        box(600_500, 6_930_000, 600_600, 6_930_100)
    )
    holed = square.difference(box(500_050, 6_930_050, 500_150, 6_930_150))
    data = LayerData(
        1,
        "MultiPolygon",
        ["p", "m", "h"],
        [wgs(square), wgs(multi), wgs(holed)],
        [{"ind": 10}, {"ind": 2.5}, {"ind": 4}],
    )
    layer = build_layer("poly", data)
    assert [g.geom_type for g in layer.geoms] == ["MultiPolygon"] * 3
    assert layer.geoms[0].area == pytest.approx(40_000, abs=1e-4)
    assert layer.geoms[1].area == pytest.approx(20_000, abs=1e-4)
    assert layer.geoms[2].area == pytest.approx(30_000, abs=1e-4)
    assert layer.properties.numeric("ind").tolist() == [10, 2.5, 4]
    back = proj.geojson_to_shape(layer.geojson(0, precision=None))
    assert proj.to_l93(back).symmetric_difference(square).area < 1e-6


def test_property_table_behaves_like_a_list_of_dicts():
    rows = [{"a": 1, "b": "x"}, {"a": 2}, {"b": "x", "c": None}]
    table = PropertyTable.from_dicts(rows)
    assert list(table) == rows
    assert table[1:] == rows[1:]
    assert list(table.column("b", "-")) == ["x", "-", "x"]
    assert table.numeric("a").tolist() == [1.0, 2.0, 0.0]
    assert table.take(np.array([2, 0]))[0] == rows[2]
