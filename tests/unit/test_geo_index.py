"""Spatial index: lazy builds, staleness, threads, projected storage."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
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


# -- compact storage: texts, properties decoded on demand ----------------------------------------


def test_texts_keep_utf8_strings_in_one_buffer():
    from app.geo.index import Texts

    texts = Texts.from_strings(["DEMO-a", "FICTIF — Écoles", "", "b"])
    assert len(texts) == 4 and texts[1] == "FICTIF — Écoles" and texts[-1] == "b"
    assert list(texts) == ["DEMO-a", "FICTIF — Écoles", "", "b"]
    assert list(texts[np.array([3, 0])]) == ["b", "DEMO-a"]
    assert texts[1:3] == ["FICTIF — Écoles", ""]
    seen = texts.take(np.array([2, 1, 0]))
    assert list(seen) == ["", "FICTIF — Écoles", "DEMO-a"]
    assert list(seen.take(np.array([1]))) == ["FICTIF — Écoles"]
    assert texts.nbytes < 100
    with pytest.raises(IndexError):
        texts[4]


def test_properties_are_decoded_only_for_the_rows_read():
    rows = [{"name": "FICTIF — A", "capacity": 10, "ok": True}, {"name": None}, {"capacity": "x"}]
    table = PropertyTable.from_dicts(rows)
    assert table.rows(np.array([2, 0])) == [rows[2], rows[0]]
    cols = table.columns(("name", "capacity"), "-", np.array([0, 1, 2]))
    assert list(cols["name"]) == ["FICTIF — A", None, "-"]
    assert list(cols["capacity"]) == [10, "-", "x"]
    # numbers as they are, anything else as 0 (bools included)
    assert table.numeric("capacity").tolist() == [10.0, 0.0, 0.0]
    assert table.numeric("ok").tolist() == [0.0, 0.0, 0.0]
    assert table.nbytes < 200  # one buffer of JSON text: no dict per feature


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=8),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(-(2**70), 2**70),
                st.floats(allow_nan=False),
                st.text(max_size=20),
                st.lists(st.integers(), max_size=3),
            ),
            max_size=5,
        ),
        max_size=6,
    )
)
def test_decoding_gives_what_the_standard_library_reads(rows):
    # The stored text is read with orjson (the standard library where orjson refuses, e.g.
    # integers beyond 64 bits): the values must be those json.loads gives.
    from app.geo.index import loads, loads_many

    texts = [json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":")) for r in rows]
    for text in texts:
        assert loads(text.encode()) == json.loads(text)
        got = loads(text.encode())
        assert [type(v) for v in got.values()] == [type(v) for v in json.loads(text).values()]
    many = loads_many([t.encode() for t in texts])
    assert many == [json.loads(t) for t in texts]
    assert [[type(v) for v in r.values()] for r in many] == [
        [type(v) for v in json.loads(t).values()] for t in texts
    ]


# -- stored GeoJSON text -> geometries ------------------------------------------------------------

coord = st.tuples(
    st.floats(-5.0, 10.0, allow_nan=False), st.floats(41.0, 52.0, allow_nan=False)
).map(list)
line = st.lists(coord, min_size=2, max_size=5)
ring = st.lists(coord, min_size=3, max_size=5).map(lambda c: [*c, c[0]])
polygon = st.lists(ring, min_size=1, max_size=3)
GEOMETRIES = {
    "line": st.one_of(
        line.map(lambda c: {"type": "LineString", "coordinates": c}),
        st.lists(line, max_size=3).map(lambda c: {"type": "MultiLineString", "coordinates": c}),
    ),
    "polygon": st.one_of(
        polygon.map(lambda c: {"type": "Polygon", "coordinates": c}),
        st.lists(polygon, max_size=3).map(lambda c: {"type": "MultiPolygon", "coordinates": c}),
    ),
}


def _stored(g, style):
    if style == "stored":  # what app.catalogue writes
        return json.dumps(g, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if style == "spaced":
        return json.dumps(g)
    if style == "bbox":
        return json.dumps({"bbox": [0, 0, 1, 1], **g}, sort_keys=True, separators=(",", ":"))
    return json.dumps(  # 3D coordinates
        {
            "type": g["type"],
            "coordinates": json.loads(json.dumps(g["coordinates"]).replace("]", ", 7.5]", 0)),
        }
    )


@settings(max_examples=80, deadline=None)
@given(
    kind=st.sampled_from(["line", "polygon"]),
    data=st.data(),
)
def test_parsed_geometries_equal_the_json_path(kind, data):
    from app.geo.index import geojson_array_to_l93, parse_geojson_texts

    geoms = data.draw(st.lists(GEOMETRIES[kind], min_size=1, max_size=8))
    style = data.draw(st.sampled_from(["stored", "stored", "spaced", "bbox"]))
    texts = [_stored(g, style) for g in geoms]
    got = parse_geojson_texts(texts, kind)
    expected = geojson_array_to_l93([json.loads(t) for t in texts])
    assert list(shapely.get_type_id(got)) == list(shapely.get_type_id(expected))
    assert all(shapely.equals_exact(got, expected, 0)), texts


def test_parsing_3d_and_mixed_texts_equals_the_json_path():
    from app.geo.index import geojson_array_to_l93, parse_geojson_texts

    texts = [
        '{"coordinates":[[0.5,49.5,12.0],[0.6,49.6,13.5]],"type":"LineString"}',
        '{"coordinates":[[[0.5,49.5,1],[0.6,49.6,2]]],"type":"MultiLineString"}',
        '{"coordinates":[],"type":"LineString"}',
        "{}",
    ]
    got = parse_geojson_texts(texts, "line")
    expected = geojson_array_to_l93([json.loads(t) for t in texts])
    assert list(shapely.get_type_id(got)) == [5, 5, 5, 5]  # promoted to multi, like the JSON path
    assert list(shapely.get_type_id(got)) == list(shapely.get_type_id(expected))
    assert all(shapely.equals_exact(got, expected, 0))


# -- revisions, background build -----------------------------------------------------------------


def test_a_revision_read_by_the_caller_is_trusted_without_asking():
    cat = FakeCatalogue()
    asked = []
    index = SpatialIndex(cat.load, lambda slug: asked.append(slug) or cat.revisions[slug])
    first = index.layer("pts", 1)
    assert index.layer("pts", 1) is first and asked == []
    cat.revisions["pts"] = 2
    second = index.layer("pts", 2)  # the request read revision 2: rebuild
    assert second.revision == 2 and cat.loads == 2 and asked == []
    cat.revisions["pts"] = 1  # a restored backup: revisions go back, the layer follows
    assert index.layer("pts", 1).revision == 1 and cat.loads == 3


class GatedCatalogue:
    """A loader whose ``slow`` dataset waits for a gate: a layer being built for long."""

    def __init__(self):
        self.gate = threading.Event()
        self.started = threading.Event()

    def load(self, slug):
        if slug == "slow":
            self.started.set()
            assert self.gate.wait(10)
        return points_data()


def test_background_build_lets_other_layers_be_served():
    cat = GatedCatalogue()
    index = SpatialIndex(cat.load)
    thread = index.warm([("fast", None), ("slow", None), ("later", None)])
    assert cat.started.wait(10)
    # While "slow" is being built: a built layer answers, one not reached yet is built here.
    assert len(index.layer("fast")) == 3
    assert len(index.layer("later")) == 3
    assert index.building == {"slow"} and index.cached("slow") is None
    # A request for the layer under construction waits for it, and for it only.
    got = []
    waiter = threading.Thread(target=lambda: got.append(index.layer("slow")))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not got
    cat.gate.set()
    waiter.join(10)
    thread.join(10)
    assert got and got[0] is index.cached("slow") and index.builds == 3
    assert index.building == set()


def test_a_failing_layer_does_not_stop_the_background_build():
    def load(slug):
        if slug == "bad":
            raise ValueError("broken file")
        return points_data()

    index = SpatialIndex(load)
    index.warm([("bad", None), ("good", None)]).join(10)
    assert index.cached("good") is not None and index.cached("bad") is None
