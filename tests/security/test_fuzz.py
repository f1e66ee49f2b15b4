"""Hypothesis fuzzing: importers and the playbook loader fail only with their own error type,
and a failed import writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import catalogue, imports
from app.db import connect, scalar
from app.playbooks import PlaybookError, parse_yaml, playbook_from_dict
from tests.conftest import T0
from tests.unit import test_access_support as support

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
coordinates = st.recursive(
    st.floats(min_value=-200, max_value=200) | st.just(support.LON) | st.just(support.LAT),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=30,
)
geometry = (
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["Point", "LineString", "Polygon", "MultiPolygon", "Nope", ""]),
            "coordinates": coordinates,
        }
    )
    | json_values
)
feature = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Feature", "feature", "X"]),
        "properties": st.dictionaries(
            st.sampled_from(["id", "pressure", "diameter_mm", "material", "note", "x"]),
            json_values,
            max_size=5,
        )
        | json_values,
        "geometry": geometry,
    }
)
documents = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("FeatureCollection"), "features": st.lists(feature, max_size=4)}
    ),
    json_values,
)


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory: pytest.TempPathFactory, base_template: Path) -> Any:
    import shutil

    path = tmp_path_factory.mktemp("fuzz") / "crisis.db"
    shutil.copy(base_template, path)
    db = connect(path)
    support.build_world(db, T0)
    yield db
    db.conn.close()


def _state(db: Any) -> tuple[Any, ...]:
    return (
        scalar(db, "SELECT count(*) FROM features"),
        scalar(db, "SELECT count(*) FROM dataset_revisions"),
        scalar(db, "SELECT count(*) FROM audit_log"),
    )


def _import(db: Any, path: Path, **kw: Any) -> None:
    before = _state(db)
    try:
        imports.import_file(db, T0, "gas-network", path, actor="fuzz", **kw)
    except catalogue.CatalogueError:  # ImportFailed and its parent: the only allowed refusals
        assert _state(db) == before
        return
    after = _state(db)
    assert after[1] == before[1] + 1  # an accepted file is one revision, audited


@FUZZ
@given(doc=documents)
def test_random_geojson_documents(fuzz_db: Any, tmp_path_factory: Any, doc: Any) -> None:
    path = tmp_path_factory.mktemp("g") / "f.geojson"
    path.write_text(json.dumps(doc, allow_nan=True))
    _import(fuzz_db, path)


@FUZZ
@given(raw=st.binary(max_size=400), suffix=st.sampled_from([".geojson", ".csv", ".json"]))
def test_random_bytes(fuzz_db: Any, tmp_path_factory: Any, raw: bytes, suffix: str) -> None:
    path = tmp_path_factory.mktemp("b") / ("f" + suffix)
    path.write_bytes(raw)
    _import(fuzz_db, path)


cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    [str(support.LON), str(support.LAT), "=cmd|' /C calc'!A0", "nan", "inf", "", '"', "1e400"]
)


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(["id", "pressure", "material", "lon", "lat", "geometry", "wkt", "x"]),
        max_size=6,
    ),
    body=st.lists(st.lists(cells, max_size=7), max_size=5),
    sep=st.sampled_from([",", ";"]),
)
def test_random_csv(
    fuzz_db: Any, tmp_path_factory: Any, header: list[str], body: list[list[str]], sep: str
) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep)
    writer.writerow(header)
    writer.writerows(body)
    path = tmp_path_factory.mktemp("c") / "f.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    _import(fuzz_db, path, fmt="csv")


yaml_text = st.text(
    alphabet=st.sampled_from(list("abcid:- \n\t[]{}'\"&*!|>#%@`0123456789.,?")), max_size=200
)


@FUZZ
@given(text=yaml_text)
def test_random_yaml_raises_only_playbook_error(text: str) -> None:
    try:
        data = parse_yaml(text, "fuzz.yaml")
        playbook_from_dict(data, "fuzz.yaml", None)
    except PlaybookError:
        pass


@FUZZ
@given(
    data=json_values
    | st.dictionaries(
        st.sampled_from(
            [
                "id",
                "title",
                "hazard",
                "parameters",
                "zones",
                "checklist",
                "datasets",
                "report_cadence_min",
                "applies_to",
                "default_level",
            ]
        ),
        json_values,
    )
)
def test_random_playbook_structures_raise_only_playbook_error(data: Any) -> None:
    try:
        playbook_from_dict(data, "fuzz.yaml", None)
    except PlaybookError:
        pass
