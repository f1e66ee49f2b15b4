"""GIS formats through pyogrio: each imported and checked against its source with an independent
reader (sqlite3 for a GeoPackage, struct for the Shapefile's .shp/.dbf, the XML for OSM), and
broken files refused naming the fault with the database unchanged."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import shapely
from flask import Flask

from app import catalogue, gis_files
from app.db import connect
from tests import gis_fixtures as gf
from tests.conftest import Runner
from tests.unit.test_import import snapshot

OSM = Path(__file__).resolve().parent.parent / "fixtures" / "osm"


@pytest.fixture
def tdb(territory_app: Flask) -> Any:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


@pytest.fixture
def trunner(territory_app: Flask, tmp_path: Path) -> Runner:
    return Runner({"CRISIS_DB": territory_app.config["CRISIS_DB"], "CRISIS_SECRET_KEY": "t"})


def schools(n: int = 3, start: int = 0) -> tuple[list[Any], dict[str, list[Any]]]:
    geoms = [shapely.Point(0.50 + 0.01 * i, 49.52 + 0.005 * i) for i in range(start, start + n)]
    props = {
        "id": [f"DEMO-GPKG-{i}" for i in range(start, start + n)],
        "name": [f"FICTIF — École {i}" for i in range(start, start + n)],
        "type": ["ecole"] * n,
        "capacity": [100 + i for i in range(start, start + n)],
        "commune": ["Lillebonne"] * n,
        "commune_insee": ["76384"] * n,
        "source": ["synthetic"] * n,
    }
    return geoms, props


def gpkg_two_layers(tmp_path: Path) -> Path:
    path = tmp_path / "etablissements.gpkg"
    gf.write_layer(path, *schools(3), layer="ecoles")
    lines = [shapely.LineString([(0.5, 49.5), (0.51, 49.51)])]
    gf.write_layer(path, lines, {"id": ["DEMO-L"]}, layer="voies", append=True)
    return path


def test_geopackage_layer_round_trip(tdb: Any, trunner: Runner, tmp_path: Path) -> None:
    path = gpkg_two_layers(tmp_path)
    result = trunner("import", "schools", str(path), "--layer", "ecoles")
    assert result.exit_code == 0, result.output
    assert "%" in result.output  # the progress line
    source = gf.read_gpkg(path, "ecoles")
    stored = {f["id"]: f for f in catalogue.features(tdb, "schools", ids=[r["id"] for r in source])}
    assert len(stored) == 3
    for row in source:
        feat = stored[row["id"]]
        for key in ("name", "type", "capacity", "commune", "commune_insee", "source"):
            assert feat["properties"][key] == row[key], key
        assert shapely.geometry.shape(feat["geometry"]).equals_exact(row["geometry"], 1e-9)


def test_a_zipped_lambert93_latin1_shapefile_round_trips(
    tdb: Any, trunner: Runner, tmp_path: Path
) -> None:
    """Fields already bearing the catalogue's names: no mapping needed; .prj and .cpg honoured."""
    folder = tmp_path / "shp"
    folder.mkdir()
    wgs = [[(0.53, 49.52), (0.54, 49.525)], [(0.45, 49.47), (0.46, 49.472), (0.47, 49.474)]]
    l93 = [shapely.LineString([gf.TO_L93.transform(x, y) for x, y in line]) for line in wgs]
    props = {
        "id": ["DEMO-SHP-1", "DEMO-SHP-2"],
        "name": ["FICTIF - Rue de l'Église", "FICTIF - Chaussée à Bolbec"],
        "ref": ["D 173", "D 910"],
        "kind": ["secondary", "primary"],
        "length_m": [700, 1500],
        "source": ["synthetic", "synthetic"],
    }
    gf.write_layer(
        folder / "routes.shp",
        l93,
        props,
        crs="EPSG:2154",
        encoding="ISO-8859-1",
        driver="ESRI Shapefile",
    )
    assert (folder / "routes.cpg").read_text().strip().upper() in ("ISO-8859-1", "88591", "LATIN1")
    dbf = gf.read_dbf(folder / "routes.dbf", "latin-1")
    assert dbf[0]["name"] == "FICTIF - Rue de l'Église"  # Latin-1 bytes in the DBF
    archive = gf.zip_shapefile(folder, "routes", tmp_path / "routes.zip")
    result = trunner("import", "roads", str(archive))
    assert result.exit_code == 0, result.output
    shp = gf.read_shp_lines(folder / "routes.shp")
    for row, vertices in zip(dbf, shp, strict=True):
        feat = next(catalogue.features(tdb, "roads", ids=[row["id"]]))
        assert feat["properties"]["name"] == row["name"]
        assert feat["properties"]["length_m"] == int(row["length_m"])
        expected = [gf.TO_WGS.transform(x, y) for x, y in vertices]
        got = feat["geometry"]["coordinates"]
        assert len(got) == len(expected)
        for (gx, gy), (ex, ey) in zip(got, expected, strict=True):
            assert abs(gx - ex) < 1e-6 and abs(gy - ey) < 1e-6


def plant_shapefile(tmp_path: Path, drop: str | None = None) -> Path:
    """The fictitious operator's export: its own column names, quantities in kg."""
    folder = tmp_path / "inv"
    folder.mkdir(exist_ok=True)
    props = {
        "CODE_STOCK": ["DEMO-INV-90", "DEMO-INV-91"],
        "CODE_SITE": ["FICTIF-1", "FICTIF-1"],
        "LIBELLE": ["FICTIF - Cuve C9", "FICTIF - Sphère S9"],
        "SUBSTANCE": ["ammoniac", "chlore"],
        "NUM_ONU": ["1005", "1017"],
        "QTE_MAX_KG": [12500.0, 3000.0],
        "MODE_STOCK": ["CUVE", "SPHERE"],
        "COMMUNE": ["Port-Jérôme-sur-Seine"] * 2,
        "INSEE": ["76476", "76476"],
        "ORIGINE": ["synthetic", "synthetic"],
    }
    if drop:
        props.pop(drop)
    points = [
        shapely.Point(gf.TO_L93.transform(0.5475, 49.4697)),
        shapely.Point(gf.TO_L93.transform(0.548, 49.47)),
    ]
    gf.write_layer(
        folder / "stocks.shp",
        points,
        props,
        crs="EPSG:2154",
        driver="ESRI Shapefile",
        encoding="ISO-8859-1",
    )
    return gf.zip_shapefile(folder, "stocks", tmp_path / f"stocks{'-' + drop if drop else ''}.zip")


def test_the_catalogue_mapping_renames_converts_units_and_codes(
    tdb: Any, trunner: Runner, tmp_path: Path
) -> None:
    result = trunner("import", "plant-inventory", str(plant_shapefile(tmp_path)))
    assert result.exit_code == 0, result.output
    feat = next(catalogue.features(tdb, "plant-inventory", ids=["DEMO-INV-90"]))
    props = feat["properties"]
    assert props["quantity_t"] == pytest.approx(12.5)
    assert props["storage"] == "cuve en rétention" and props["name"] == "FICTIF - Cuve C9"
    assert "QTE_MAX_KG" not in props and "LIBELLE" not in props


def test_fgb_round_trip(tdb: Any, trunner: Runner, tmp_path: Path) -> None:
    geoms, props = schools(4, start=10)
    path = gf.write_layer(tmp_path / "ecoles.fgb", geoms, props, driver="FlatGeobuf")
    result = trunner("import", "schools", str(path))
    assert result.exit_code == 0, result.output
    for i, fid in enumerate(props["id"]):
        feat = next(catalogue.features(tdb, "schools", ids=[fid]))
        assert feat["geometry"]["coordinates"] == [geoms[i].x, geoms[i].y]
        assert feat["properties"]["capacity"] == props["capacity"][i]


def test_osm_pbf_roads_match_the_xml(tdb: Any, trunner: Runner) -> None:
    result = trunner("import", "roads", str(OSM / "caux-roads.osm.pbf"))
    assert result.exit_code == 0, result.output
    tree = ET.parse(OSM / "caux-roads.osm")
    nodes = {n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in tree.iter("node")}
    expected = {}
    for way in tree.iter("way"):
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        if tags.get("highway") in gis_files.OSM_KINDS:
            coords = [nodes[nd.get("ref")] for nd in way.iter("nd")]
            if all(0.2 < x < 1.0 for x, _ in coords):
                expected[f"osm-w{way.get('id')}"] = (tags, coords)
    stored = {f["id"]: f for f in catalogue.features(tdb, "roads") if f["id"].startswith("osm-")}
    assert set(stored) == set(expected) == {"osm-w101", "osm-w102", "osm-w103", "osm-w107"}
    for fid, (tags, coords) in expected.items():
        props = stored[fid]["properties"]
        assert props["ref"] == tags.get("ref")
        assert props["name"] == tags.get("name", tags.get("ref", props["name"]))
        assert stored[fid]["geometry"]["coordinates"] == [list(c) for c in coords]
    assert stored["osm-w101"]["properties"]["kind"] == "primary"
    assert stored["osm-w102"]["properties"]["kind"] == "bridge"
    assert stored["osm-w103"]["properties"]["kind"] == "local"
    assert stored["osm-w107"]["properties"]["kind"] == "secondary"
    assert 600 < stored["osm-w101"]["properties"]["length_m"] < 1500


def test_export_gpkg_reads_back_with_sqlite(tdb: Any, trunner: Runner, tmp_path: Path) -> None:
    out = tmp_path / "roads.gpkg"
    result = trunner("export", "roads", str(out), "--format", "gpkg")
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in gf.read_gpkg(out, "roads")}
    stored = list(catalogue.features(tdb, "roads"))
    assert len(rows) == len(stored)
    for feat in stored[:20]:
        row = rows[feat["id"]]
        assert (
            row["name"] == feat["properties"]["name"] and row["kind"] == feat["properties"]["kind"]
        )
        assert row["geometry"].equals_exact(shapely.geometry.shape(feat["geometry"]), 1e-9)


# -- broken files -------------------------------------------------------------------------


def _shp_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "shp"
    folder.mkdir(exist_ok=True)
    geoms, props = schools(2, start=30)
    gf.write_layer(
        folder / "ecoles.shp",
        [shapely.Point(gf.TO_L93.transform(g.x, g.y)) for g in geoms],
        {k: v for k, v in props.items() if k != "commune_insee"},
        crs="EPSG:2154",
        driver="ESRI Shapefile",
    )
    return folder


WGS84_PRJ = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]'
)


def broken(kind: str, tmp_path: Path) -> tuple[str, Path, list[str], list[str]]:
    """(dataset, file, extra CLI args, words the message must hold)."""
    if kind == "truncated-gpkg":
        good = gpkg_two_layers(tmp_path)
        data = good.read_bytes()
        bad = tmp_path / "tronque.gpkg"
        bad.write_bytes(data[: len(data) // 3])
        return "schools", bad, ["--layer", "ecoles"], ["tronque.gpkg", "corrompu"]
    if kind == "no-shx":
        folder = _shp_folder(tmp_path)
        return (
            "schools",
            gf.zip_shapefile(folder, "ecoles", tmp_path / "sans-shx.zip", skip=(".shx",)),
            [],
            ["sans-shx.zip", ".shx"],
        )
    if kind == "no-shx-folder":
        folder = _shp_folder(tmp_path)
        (folder / "ecoles.shx").unlink()
        return "schools", folder / "ecoles.shp", [], ["ecoles.shp", ".shx"]
    if kind == "wrong-prj":
        folder = _shp_folder(tmp_path)
        shutil.copy(folder / "ecoles.prj", tmp_path / "l93.prj")
        (folder / "ecoles.prj").write_text(WGS84_PRJ)
        return (
            "schools",
            gf.zip_shapefile(folder, "ecoles", tmp_path / "faux-prj.zip"),
            [],
            ["faux-prj.zip", "entité 0", "hors du territoire"],
        )
    if kind == "geometry-mismatch":
        return (
            "schools",
            gpkg_two_layers(tmp_path),
            ["--layer", "voies"],
            ["couche « voies »", "LineString", "Point"],
        )
    if kind == "missing-mapped-field":
        return (
            "plant-inventory",
            plant_shapefile(tmp_path, drop="QTE_MAX_KG"),
            [],
            ["« QTE_MAX_KG »", "absent", "quantity_t"],
        )
    if kind == "zip-without-shp":
        import zipfile

        bad = tmp_path / "vide.zip"
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("lisezmoi.txt", "rien")
        return "schools", bad, [], ["vide.zip", "aucun fichier .shp"]
    if kind == "empty-layer":
        path = tmp_path / "vide.gpkg"
        geoms, props = schools(1)
        gf.write_layer(path, geoms, props, layer="ecoles")
        import sqlite3

        con = sqlite3.connect(path)
        con.execute("DELETE FROM ecoles")
        con.commit()
        con.close()
        return "schools", path, [], ["vide.gpkg", "couche « ecoles »", "aucune entité"]
    if kind == "unknown-layer":
        return (
            "schools",
            gpkg_two_layers(tmp_path),
            ["--layer", "colleges"],
            ["« colleges » absente", "ecoles", "voies"],
        )
    if kind == "several-layers":
        return "schools", gpkg_two_layers(tmp_path), [], ["2 couches", "ecoles, voies", "--layer"]
    if kind == "corrupt-fgb":
        geoms, props = schools(3)
        good = gf.write_layer(tmp_path / "ok.fgb", geoms, props, driver="FlatGeobuf")
        data = bytearray(good.read_bytes())
        bad = tmp_path / "abime.fgb"
        bad.write_bytes(bytes(data[:20]) + b"\xff" * 40 + bytes(data[60:]))
        return "schools", bad, [], ["abime.fgb", "corrompu"]
    if kind == "truncated-fgb":
        geoms, props = schools(3)
        good = gf.write_layer(tmp_path / "ok.fgb", geoms, props, driver="FlatGeobuf")
        bad = tmp_path / "coupe.fgb"
        bad.write_bytes(good.read_bytes()[:-30])
        return "schools", bad, [], ["coupe.fgb", "tronqué"]
    if kind == "bad-encoding":
        folder = _shp_folder(tmp_path)
        geoms, props = schools(1, start=40)
        props["name"] = ["FICTIF - École à Bolbec"]
        props.pop("commune_insee")
        gf.write_layer(
            folder / "ecoles.shp",
            [shapely.Point(gf.TO_L93.transform(g.x, g.y)) for g in geoms],
            props,
            crs="EPSG:2154",
            driver="ESRI Shapefile",
            encoding="ISO-8859-1",
        )
        (folder / "ecoles.cpg").write_text("UTF-8")
        return (
            "schools",
            gf.zip_shapefile(folder, "ecoles", tmp_path / "encodage.zip"),
            [],
            ["encodage.zip", "entité 0", "« name »", "--encoding"],
        )
    if kind == "osm-wrong-dataset":
        return "schools", OSM / "caux-roads.osm.pbf", [], ["« roads »"]
    if kind == "not-a-gpkg":
        bad = tmp_path / "faux.gpkg"
        bad.write_text("ceci n'est pas un GeoPackage")
        return "schools", bad, [], ["faux.gpkg", "GeoPackage"]
    raise AssertionError(kind)


BROKEN = [
    "truncated-gpkg",
    "no-shx",
    "no-shx-folder",
    "wrong-prj",
    "geometry-mismatch",
    "missing-mapped-field",
    "zip-without-shp",
    "empty-layer",
    "unknown-layer",
    "several-layers",
    "corrupt-fgb",
    "truncated-fgb",
    "bad-encoding",
    "osm-wrong-dataset",
    "not-a-gpkg",
]


@pytest.mark.parametrize("kind", BROKEN)
def test_broken_gis_files_are_refused_naming_the_fault(
    tdb: Any, trunner: Runner, tmp_path: Path, kind: str
) -> None:
    slug, path, args, words = broken(kind, tmp_path)
    before = snapshot(tdb)
    result = trunner("import", slug, str(path), *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)
    assert snapshot(tdb) == before


def test_web_upload_of_a_zipped_shapefile_with_progress(
    territory_app: Flask, tmp_path: Path
) -> None:
    client = territory_app.test_client()
    client.login("steward-chimie")
    page = client.get("/catalogue/plant-inventory").get_data(as_text=True)
    assert 'name="progress_token"' in page and "Correspondance des champs" in page
    token = page.split('name="progress_token" value="')[1].split('"')[0]
    archive = plant_shapefile(tmp_path)
    response = client.post(
        "/catalogue/plant-inventory/import",
        data={"file": (archive.open("rb"), "stocks.zip"), "progress_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    progress = client.get(f"/catalogue/plant-inventory/import/progress/{token}")
    assert progress.status_code == 200
    assert "100 %" in progress.get_data(as_text=True)


def test_geojsonseq_is_read_through_gdal(tdb: Any, trunner: Runner, tmp_path: Path) -> None:
    import json

    geoms, props = schools(2, start=20)
    lines = [
        json.dumps(
            {
                "type": "Feature",
                "properties": {k: v[i] for k, v in props.items()},
                "geometry": {"type": "Point", "coordinates": [g.x, g.y]},
            },
            ensure_ascii=False,
        )
        for i, g in enumerate(geoms)
    ]
    path = tmp_path / "ecoles.geojsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    result = trunner("import", "schools", str(path), "--format", "geojson")
    assert result.exit_code == 0, result.output
    feat = next(catalogue.features(tdb, "schools", ids=["DEMO-GPKG-21"]))
    assert feat["geometry"]["coordinates"] == [geoms[1].x, geoms[1].y]


def test_web_export_as_geopackage(territory_app: Flask, tmp_path: Path) -> None:
    client = territory_app.test_client()
    client.login("cell")
    response = client.get("/catalogue/roads/export.gpkg")
    assert response.status_code == 200
    assert response.data.startswith(b"SQLite format 3")
    out = tmp_path / "roads.gpkg"
    out.write_bytes(response.data)
    assert len(gf.read_gpkg(out, "roads")) == 90
    assert client.get("/catalogue/gas-network/export.gpkg").status_code == 403
