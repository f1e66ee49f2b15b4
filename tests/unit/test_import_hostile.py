"""Hostile import material (issue 13, item 10): non-finite numbers, absurd nesting, NUL bytes,
quoted CRLF, and upload names that are not file names. Each is refused naming the feature and the
field, with the database unchanged (CLI exit 2, web 422), or kept exactly as written."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import catalogue, imports
from app.db import connect
from tests.conftest import Runner
from tests.unit.test_import import snapshot

HEADER = "id,name,type,capacity,commune,commune_insee,source,lon,lat,extra\n"
ROW = "DEMO-H1,FICTIF — École H,ecole,10,Bolbec,76114,synthetic,0.55,49.5,"


@pytest.fixture
def tdb(territory_app: Flask) -> Any:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


@pytest.fixture
def trunner(territory_app: Flask, tmp_path: Path) -> Runner:
    return Runner({"CRISIS_DB": territory_app.config["CRISIS_DB"], "CRISIS_SECRET_KEY": "t"})


def geojson_with(value_text: str) -> str:
    return (
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{'
        '"id":"DEMO-H1","name":"FICTIF — École H","type":"ecole","capacity":10,'
        '"commune":"Bolbec","commune_insee":"76114","source":"synthetic","level":'
        + value_text
        + '},"geometry":{"type":"Point","coordinates":[0.55,49.5]}}]}'
    )


CASES = [
    ("inf.geojson", geojson_with("Infinity"), ["entité 0", "DEMO-H1", "« level »", "non fini"]),
    ("nan.geojson", geojson_with("NaN"), ["entité 0", "« level »", "non fini"]),
    ("neginf.geojson", geojson_with('{"a":[-Infinity]}'), ["entité 0", "« level »", "non fini"]),
    ("nan.csv", HEADER + ROW.replace("0.55,49.5", "NaN,49.5") + "\n", ["ligne 2", "infinies"]),
    ("inf-json.csv", HEADER + ROW + '"{""a"": Infinity}"\n', ["ligne 2", "extra", "non fini"]),
    ("deep.csv", HEADER + ROW + "[" * 50_000 + "\n", ["ligne 2", "« extra »", "imbrication"]),
    ("nul.csv", HEADER + ROW.replace("École H", "École\x00H") + "\n", ["ligne 2", "NUL"]),
]


@pytest.mark.parametrize("name,content,words", CASES, ids=[c[0] for c in CASES])
def test_hostile_values_are_refused_naming_the_place(
    tdb: Any, trunner: Runner, tmp_path: Path, name: str, content: str, words: list[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    before = snapshot(tdb)
    result = trunner("import", "schools", str(path))
    assert result.exit_code == 2, result.output
    for word in [name, *words]:
        assert word in result.output, (word, result.output)
    assert "Traceback" not in result.output
    assert snapshot(tdb) == before


def test_a_non_finite_float_cell_is_refused() -> None:
    for text in ("inf", "NaN", "-Infinity", "1e999"):
        with pytest.raises(ValueError, match="non fini"):
            imports._coerce("float", text)


def test_a_quoted_crlf_survives_import_and_export(tdb: Any, trunner: Runner, tmp_path: Path):
    src = tmp_path / "crlf.csv"
    src.write_bytes(
        (HEADER + ROW.replace("FICTIF — École H", '"FICTIF — École\r\nH"') + "\n").encode()
    )
    assert trunner("import", "schools", str(src)).exit_code == 0
    stored = next(catalogue.features(tdb, "schools", ids=["DEMO-H1"]))
    assert stored["properties"]["name"] == "FICTIF — École\r\nH"
    out = tmp_path / "schools.csv"
    assert trunner("export", "schools", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8"), newline="")))
    assert next(r for r in rows if r["id"] == "DEMO-H1")["name"] == "FICTIF — École\r\nH"
    # And back in: the same text again.
    again = tmp_path / "again.csv"
    again.write_bytes(out.read_bytes())
    assert trunner("import", "schools", str(again)).exit_code == 0, "re-import"
    stored = next(catalogue.features(tdb, "schools", ids=["DEMO-H1"]))
    assert stored["properties"]["name"] == "FICTIF — École\r\nH"


def test_export_never_writes_invalid_json(tdb: Any) -> None:
    """What the public layer serves parses as strict JSON (no NaN/Infinity ever stored)."""
    text = "".join(catalogue.geojson_chunks(catalogue.features(tdb, "schools")))
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-finite {c} exported"))


def test_the_web_refuses_deep_nesting_with_422(territory_app: Flask) -> None:
    client = territory_app.test_client()
    client.login("steward")  # GRDF manages gas-network
    body = "id,pressure,lon,lat,extra\nDEMO-G1,MPB,0.55,49.5," + "[" * 50_000 + "\n"
    response = client.post(
        "/catalogue/gas-network/import",
        data={"file": (io.BytesIO(body.encode()), "deep.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "imbrication" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "name",
    ["é" * 200 + ".geojson", "..", "a\x00b.geojson", "../" * 50 + "x.geojson", "\x00", "."],
    ids=["long", "dotdot", "nul", "traversal", "only-nul", "dot"],
)
def test_upload_names_are_never_trusted(territory_app: Flask, name: str) -> None:
    client = territory_app.test_client()
    client.login("steward")
    body = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"id": "DEMO-GAS-N1", "pressure": "MPB"},
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[0.55, 49.5], [0.56, 49.51]],
                    },
                }
            ],
        }
    ).encode()
    response = client.post(
        "/catalogue/gas-network/import",
        data={"file": (io.BytesIO(body), name), "format": "geojson"},
        content_type="multipart/form-data",
    )
    assert response.status_code in (302, 422), response.get_data(as_text=True)[:500]
    db = connect(territory_app.config["CRISIS_DB"])
    try:
        recorded = db.execute(
            "SELECT file_name FROM dataset_revisions ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
    finally:
        db.conn.close()
    assert "\x00" not in recorded and "/" not in recorded and len(recorded.encode()) <= 255


def test_a_lone_shp_upload_asks_for_the_zip(territory_app: Flask) -> None:
    client = territory_app.test_client()
    client.login("steward")
    response = client.post(
        "/catalogue/gas-network/import",
        data={"file": (io.BytesIO(b"\x00\x00'\n" + b"\x00" * 96), "reseau.shp")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "zippé" in response.get_data(as_text=True)


def test_upload_name_keeps_only_a_known_suffix() -> None:
    from app.web.catalogue import upload_name

    assert upload_name("roads.osm.pbf") == ("roads.osm.pbf", ".osm.pbf")
    assert upload_name("C:\\Users\\x\\réseau.GPKG")[1] == ".gpkg"
    assert upload_name("evil.sh")[1] == ""
    shown, _ = upload_name("x" * 400 + ".zip")
    assert len(shown) <= 120 and shown.endswith(".zip")
    assert imports.detect_format(Path("upload.fgb"), b"fgb\x03") == "fgb"
