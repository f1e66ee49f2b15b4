"""Imports: every class of bad file is refused with its place named and nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import catalogue, imports
from app.db import connect, scalar
from tests.conftest import T0, Runner

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports"

SCHOOL = {
    "id": "DEMO-TEST-1",
    "name": "FICTIF — École test",
    "type": "ecole",
    "capacity": 120,
    "commune": "Bolbec",
    "commune_insee": "76114",
}


@pytest.fixture
def tdb(territory_app: Flask) -> Any:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


@pytest.fixture
def trunner(territory_app: Flask, tmp_path: Path) -> Runner:
    return Runner(
        {
            "CRISIS_DB": territory_app.config["CRISIS_DB"],
            "CRISIS_SECRET_KEY": "test-secret",
            "CRISIS_CHECKPOINT_KEY": str(tmp_path / "checkpoint.key"),
            "CRISIS_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        }
    )


def snapshot(db: Any) -> tuple[Any, ...]:
    return (
        scalar(db, "SELECT count(*) FROM features"),
        scalar(db, "SELECT total(revision) FROM datasets"),
        scalar(db, "SELECT count(*) FROM dataset_revisions"),
        scalar(db, "SELECT count(*) FROM audit_log"),
        scalar(db, "SELECT group_concat(properties, '|') FROM features WHERE fid LIKE 'DEMO-E%'"),
    )


def school_props(**over: Any) -> dict[str, Any]:
    props = {**SCHOOL, "source": "synthetic"}
    props.update(over)
    return {k: v for k, v in props.items() if v is not None}


def feature(props: dict[str, Any], geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def point(lon: float = 0.55, lat: float = 49.5) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def fc(*features: Any, **extra: Any) -> str:
    doc = {"type": "FeatureCollection", **extra, "features": list(features)}
    return json.dumps(doc, ensure_ascii=False)


def good_school(i: int) -> dict[str, Any]:
    return feature(school_props(id=f"DEMO-TEST-{i}"), point(0.4 + (i % 400) / 1000, 49.55))


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


SQUARE = [[0.5, 49.5], [0.51, 49.5], [0.51, 49.51], [0.5, 49.51], [0.5, 49.5]]
BOWTIE = [[0.5, 49.5], [0.51, 49.51], [0.51, 49.5], [0.5, 49.51], [0.5, 49.5]]
FLOOD = {"id": "DEMO-FLOOD-T", "seine_level_m": 9.5, "scenario": "test", "return_period": 100}

# (dataset, file name, content, words the message must hold)
BAD_FILES: list[tuple[str, str, Any, list[str]]] = [
    ("schools", "empty.geojson", "", ["empty.geojson", "vide"]),
    ("schools", "blank.geojson", "   \n", ["blank.geojson", "vide"]),
    ("schools", "notjson.geojson", "this is not json", ["notjson.geojson", "JSON"]),
    (
        "schools",
        "truncated.geojson",
        fc(good_school(1), good_school(2))[:-30],
        ["truncated.geojson", "ligne", "JSON invalide"],
    ),
    (
        "schools",
        "latin1.geojson",
        fc(feature(school_props(name="FICTIF — École"), point()))
        .replace("—", "-")
        .encode("latin-1"),
        ["latin1.geojson", "octet", "UTF-8", "ISO-8859-1"],
    ),
    (
        "schools",
        "wrongtype.geojson",
        fc(
            good_school(1),
            feature(
                school_props(id="DEMO-X"),
                {"type": "LineString", "coordinates": [[0.5, 49.5], [0.6, 49.6]]},
            ),
        ),
        ["wrongtype.geojson", "entité 1", "DEMO-X", "LineString", "Point attendu"],
    ),
    (
        "schools",
        "swapped.geojson",
        fc(good_school(1), feature(school_props(id="DEMO-S"), point(49.55, 0.55))),
        ["swapped.geojson", "entité 1", "hors du territoire", "inversées"],
    ),
    (
        "schools",
        "far.geojson",
        fc(feature(school_props(), point(2.35, 48.85))),
        ["far.geojson", "entité 0", "hors du territoire"],
    ),
    (
        "schools",
        "missing.geojson",
        fc(good_school(1), good_school(2), feature(school_props(id="DEMO-M", name=None), point())),
        ["missing.geojson", "entité 2", "DEMO-M", "« name »", "manquante"],
    ),
    (
        "schools",
        "wrongvaluetype.geojson",
        fc(feature(school_props(capacity="cent"), point())),
        ["wrongvaluetype.geojson", "entité 0", "capacity", "entier attendu", "cent"],
    ),
    (
        "schools",
        "badvalue.geojson",
        fc(feature(school_props(type="université"), point())),
        ["badvalue.geojson", "entité 0", "université", "hors des valeurs"],
    ),
    (
        "schools",
        "dup.geojson",
        fc(good_school(1), good_school(2), good_school(1)),
        ["dup.geojson", "entité 2", "DEMO-TEST-1", "double"],
    ),
    (
        "schools",
        "noid.geojson",
        fc(feature(school_props(id=None), point())),
        ["noid.geojson", "entité 0", "identifiant manquant"],
    ),
    (
        "schools",
        "notfc.geojson",
        json.dumps({"type": "Feature", "properties": {}, "geometry": point()}),
        ["notfc.geojson", "FeatureCollection"],
    ),
    (
        "schools",
        "array.geojson",
        json.dumps([1, 2]),
        ["array.geojson", "FeatureCollection"],
    ),
    (
        "flood-extents",
        "bowtie.geojson",
        fc(feature(FLOOD, {"type": "Polygon", "coordinates": [BOWTIE]})),
        ["bowtie.geojson", "entité 0", "DEMO-FLOOD-T", "invalide", "auto-intersection", "près de"],
    ),
    (
        "flood-extents",
        "unclosed.geojson",
        fc(feature(FLOOD, {"type": "Polygon", "coordinates": [SQUARE[:-1]]})),
        ["unclosed.geojson", "entité 0", "non fermé"],
    ),
    (
        "flood-extents",
        "deep.geojson",
        fc(feature(FLOOD, {"type": "MultiPolygon", "coordinates": [[[[[[SQUARE]]]]]]})),
        ["deep.geojson", "entité 0"],
    ),
    (
        "schools",
        "nested.geojson",
        '{"type":"FeatureCollection","features":[' + "[" * 100000 + "]" * 100000 + "]}",
        ["nested.geojson", "imbrication"],
    ),
    (
        "flood-extents",
        "huge.geojson",
        fc(
            feature(
                FLOOD,
                {
                    "type": "LineString",
                    "coordinates": [[0.5, 49.5]] * (imports.MAX_VERTICES + 5),
                },
            )
        ),
        ["huge.geojson", "entité 0"],
    ),
    (
        "schools",
        "bad.csv",
        "id,name,type,capacity,commune,commune_insee,source,lon,lat\n"
        "DEMO-C1,FICTIF — A,ecole,10,Bolbec,76114,synthetic,0.55,49.5\n"
        "DEMO-C2,FICTIF — B,ecole,dix,Bolbec,76114,synthetic,0.55,49.5\n",
        ["bad.csv", "ligne 3", "capacity", "entier attendu", "dix"],
    ),
    (
        "schools",
        "swapped.csv",
        "id,name,type,capacity,commune,commune_insee,source,lat,lon\n"
        "DEMO-C1,FICTIF — A,ecole,10,Bolbec,76114,synthetic,0.55,49.5\n",
        ["swapped.csv", "ligne 2", "inversées"],
    ),
    (
        "schools",
        "nogeom.csv",
        "id,name,type,capacity,commune,commune_insee,source\n"
        "DEMO-C1,FICTIF — A,ecole,10,Bolbec,76114,synthetic\n",
        ["nogeom.csv", "ligne 2", "géométrie"],
    ),
    (
        "schools",
        "short.csv",
        "id,name,type,capacity,commune,commune_insee,source,lon,lat\nDEMO-C1,FICTIF — A,ecole\n",
        ["short.csv", "ligne 2", "colonnes"],
    ),
]


@pytest.mark.parametrize("slug,name,content,words", BAD_FILES, ids=[b[1] for b in BAD_FILES])
def test_bad_file_exits_2_names_the_place_and_writes_nothing(
    tdb: Any, trunner: Runner, tmp_path: Path, slug: str, name: str, content: Any, words: list[str]
) -> None:
    path = write(tmp_path, name, content)
    before = snapshot(tdb)
    result = trunner("import", slug, str(path))
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in result.output, (word, result.output)
    assert snapshot(tdb) == before


def test_errors_in_many_features_are_all_reported_and_capped(tdb: Any, tmp_path: Path) -> None:
    feats = [feature(school_props(id=f"DEMO-E{i}", capacity="x"), point()) for i in range(50)]
    path = write(tmp_path, "many.geojson", fc(*feats))
    with pytest.raises(imports.ImportFailed) as err:
        imports.import_file(tdb, T0, "schools", path, actor="t")
    assert len(err.value.problems) == imports.MAX_ERRORS
    assert err.value.more == 50 - imports.MAX_ERRORS
    assert "entité 0 (id DEMO-E0)" in err.value.problems[0]


def test_problems_after_the_first_are_still_reported_and_nothing_written(
    tdb: Any, tmp_path: Path
) -> None:
    # The importer writes as it reads and rolls back at the first problem: the rest of the file
    # must still be checked, so the steward sees every fault at once.
    feats = [good_school(i) for i in range(400)]
    feats[3] = feature(school_props(id="DEMO-BAD-A", capacity="beaucoup"), point())
    feats[250] = feature(school_props(id="DEMO-BAD-B"), point(49.5, 0.55))
    feats[399] = good_school(0)  # a duplicate id, at the very end
    path = write(tmp_path, "three-faults.geojson", fc(*feats))
    before = snapshot(tdb)
    with pytest.raises(imports.ImportFailed) as err:
        imports.import_file(tdb, T0, "schools", path, actor="t")
    text = "\n".join(err.value.problems)
    assert "entité 3 (id DEMO-BAD-A)" in text
    assert "entité 250 (id DEMO-BAD-B)" in text
    assert "entité 399" in text
    assert len(err.value.problems) == 3
    assert snapshot(tdb) == before


def test_a_fault_in_the_last_feature_of_a_large_file_writes_nothing(
    tdb: Any, tmp_path: Path
) -> None:
    feats = [good_school(i) for i in range(3000)]
    feats.append(feature(school_props(id="DEMO-LAST"), point(49.5, 0.55)))
    path = write(tmp_path, "big.geojson", fc(*feats))
    before = snapshot(tdb)
    with pytest.raises(imports.ImportFailed) as err:
        imports.import_file(tdb, T0, "schools", path, actor="t")
    assert "entité 3000 (id DEMO-LAST)" in str(err.value)
    assert snapshot(tdb) == before


def test_good_import_upserts_bumps_revision_and_audits(
    tdb: Any, trunner: Runner, tmp_path: Path
) -> None:
    ds = catalogue.require_dataset(tdb, "schools")
    path = write(tmp_path, "ok.geojson", fc(good_school(1), good_school(2)))
    result = trunner("import", "schools", str(path), "--actor", "marc")
    assert result.exit_code == 0, result.output
    after = catalogue.require_dataset(tdb, "schools")
    assert after.revision == ds.revision + 1
    assert after.feature_count == ds.feature_count + 2
    rev = catalogue.revisions(tdb, "schools")[0]
    assert (rev["revision"], rev["inserted"], rev["updated"], rev["actor"]) == (
        after.revision,
        2,
        0,
        "marc",
    )
    audit_row = tdb.execute(
        "SELECT actor, action, object_id, details FROM audit_log ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    assert audit_row[:3] == ("marc", "dataset.import", "schools")
    details = json.loads(audit_row[3])
    assert details["file"] == "ok.geojson" and details["inserted"] == 2
    # Same ids again with a change: updated, not duplicated.
    changed = feature(school_props(id="DEMO-TEST-1", capacity=999), point(0.52, 49.55))
    path2 = write(tmp_path, "ok2.geojson", fc(changed))
    assert trunner("import", "schools", str(path2)).exit_code == 0
    again = catalogue.require_dataset(tdb, "schools")
    assert again.feature_count == after.feature_count
    feat = next(catalogue.features(tdb, "schools", ids=["DEMO-TEST-1"]))
    assert feat["properties"]["capacity"] == 999
    assert catalogue.revisions(tdb, "schools")[0]["updated"] == 1


def test_replace_swaps_the_whole_dataset(tdb: Any, trunner: Runner, tmp_path: Path) -> None:
    path = write(tmp_path, "only.geojson", fc(good_school(7)))
    result = trunner("import", "schools", str(path), "--replace")
    assert result.exit_code == 0, result.output
    ds = catalogue.require_dataset(tdb, "schools")
    assert ds.feature_count == 1
    assert [f["id"] for f in catalogue.features(tdb, "schools")] == ["DEMO-TEST-7"]
    assert ds.bbox == pytest.approx((0.407, 49.55, 0.407, 49.55))


def test_legacy_crs_member_and_crs_option_reproject(tdb: Any, trunner: Runner, tmp_path: Path):
    from app.geo import proj

    x, y = proj.lonlat_to_l93(0.55, 49.5)
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}
    legacy = write(
        tmp_path, "l93.geojson", fc(feature(school_props(), point(float(x), float(y))), crs=crs)
    )
    assert trunner("import", "schools", str(legacy)).exit_code == 0
    got = next(catalogue.features(tdb, "schools", ids=["DEMO-TEST-1"]))["geometry"]
    assert got["coordinates"] == pytest.approx([0.55, 49.5], abs=1e-7)
    # Without any CRS the same file is refused with a hint.
    plain = write(tmp_path, "l93b.geojson", fc(feature(school_props(), point(float(x), float(y)))))
    refused = trunner("import", "schools", str(plain))
    assert refused.exit_code == 2 and "--crs" in refused.output
    csv_path = write(
        tmp_path,
        "l93.csv",
        "id;name;type;capacity;commune;commune_insee;source;x;y\n"
        "DEMO-CSV;FICTIF — C;creche;20;Bolbec;76114;synthetic;"
        f"{float(x)};{float(y)}\n",
    )
    assert trunner("import", "schools", str(csv_path), "--crs", "EPSG:2154").exit_code == 0
    got = next(catalogue.features(tdb, "schools", ids=["DEMO-CSV"]))
    assert got["geometry"]["coordinates"] == pytest.approx([0.55, 49.5], abs=1e-7)
    assert got["properties"]["capacity"] == 20


def test_unknown_dataset_and_crs_exit_2(trunner: Runner, tmp_path: Path) -> None:
    path = write(tmp_path, "a.geojson", fc(good_school(1)))
    result = trunner("import", "nope", str(path))
    assert result.exit_code == 2 and "inconnu" in result.output
    result = trunner("import", "schools", str(path), "--crs", "EPSG:999999")
    assert result.exit_code == 2 and "999999" in result.output


def test_icpe_export_in_iso_8859_1(tdb: Any, trunner: Runner) -> None:
    before = catalogue.require_dataset(tdb, "seveso-sites").feature_count
    result = trunner("import", "seveso-sites", str(FIXTURES / "icpe_georisques.csv"))
    assert result.exit_code == 0, result.output
    assert "1 ligne ignorée" in result.output  # the non-Seveso row
    assert catalogue.require_dataset(tdb, "seveso-sites").feature_count == before + 2
    site = next(catalogue.features(tdb, "seveso-sites", ids=["0005800001"]))
    assert site["properties"]["name"] == "FICTIF - Société Chimique de l'Étang"
    assert site["properties"]["tier"] == "Seveso seuil haut"
    assert site["properties"]["effects"] is None
    assert site["geometry"] == {"type": "Point", "coordinates": [0.5512, 49.4702]}


def test_icpe_into_the_wrong_dataset_is_refused(trunner: Runner) -> None:
    result = trunner("import", "schools", str(FIXTURES / "icpe_georisques.csv"))
    assert result.exit_code == 2 and "seveso-sites" in result.output


def test_insee_grid_cells_from_their_ids(tdb: Any, trunner: Runner) -> None:
    grid_before = {
        f["id"]: f
        for f in catalogue.features(tdb, "population-grid", ids=["CRS3035RES200mN2983200E3636000"])
    }
    result = trunner("import", "population-grid", str(FIXTURES / "insee_grid_200m.csv"))
    assert result.exit_code == 0, result.output
    cell = next(catalogue.features(tdb, "population-grid", ids=["CRS3035RES200mN2983200E3636000"]))
    assert cell["properties"]["ind"] == 23 and cell["properties"]["commune_insee"] == "76114"
    ring = cell["geometry"]["coordinates"][0]
    old_ring = grid_before["CRS3035RES200mN2983200E3636000"]["geometry"]["coordinates"][0]
    assert len(ring) == 5
    import shapely
    from shapely.geometry import shape

    new, old = shape(cell["geometry"]), shape({"type": "Polygon", "coordinates": [old_ring]})
    assert shapely.equals_exact(shapely.normalize(new), shapely.normalize(old), tolerance=2e-6)
    second = next(
        catalogue.features(tdb, "population-grid", ids=["CRS3035RES200mN2983600E3633400"])
    )
    assert second["properties"]["ind"] == 38  # 37.5 rounded (ind is an integer field)


def test_insee_cell_geometry_is_200_m_square() -> None:
    from shapely.geometry import shape

    from app.geo import proj

    cell = proj.to_l93(shape(imports.insee_cell("CRS3035RES200mN2983200E3636000")))
    assert cell.area == pytest.approx(40000, rel=0.01)


def test_parse_crs_forms() -> None:
    assert imports.parse_crs("EPSG:2154") == 2154
    assert imports.parse_crs("urn:ogc:def:crs:EPSG::3035") == 3035
    assert imports.parse_crs("urn:ogc:def:crs:OGC:1.3:CRS84") == 4326
    assert imports.parse_crs(2154) == 2154
    with pytest.raises(catalogue.CatalogueError):
        imports.parse_crs("Lambert")
