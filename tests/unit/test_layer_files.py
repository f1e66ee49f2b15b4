"""Layer files: a built layer kept on disk and memory-mapped back, identical, never stale."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from flask import Flask

from app import catalogue, config
from app.db import connect
from app.geo.index import SpatialIndex, build_layer
from app.geo.store import LayerStore
from tests.conftest import T0


@pytest.fixture
def tdb(territory_app: Flask) -> Any:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


def token_of(tdb: Any, slug: str) -> str:
    rows = catalogue.layer_rows(tdb, slug)
    rows.close()
    return rows.token


def same(a: Any, b: Any) -> bool:
    ok = list(a.ids) == list(b.ids) and list(a.properties) == list(b.properties)
    ok = ok and (a.slug, a.revision, a.geometry_type) == (b.slug, b.revision, b.geometry_type)
    if a.kind == "point":
        return ok and all(
            np.array_equal(getattr(a, n), getattr(b, n)) for n in ("x", "y", "lon", "lat")
        )
    types_equal = list(shapely.get_type_id(a.geoms)) == list(shapely.get_type_id(b.geoms))
    return ok and types_equal and bool(np.all(shapely.equals_exact(a.geoms, b.geoms, 0)))


def test_every_layer_comes_back_identical(tdb: Any, tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "files")
    for ds in catalogue.list_datasets(tdb):
        rows = catalogue.layer_rows(tdb, ds.slug)
        layer = build_layer(ds.slug, rows)
        if ds.sensitivity == "personal":
            assert rows.token == "" and not store.save(layer, rows.token)
            continue
        assert store.save(layer, rows.token), ds.slug
        back = store.load(ds.slug, rows.token)
        assert back is not None and same(layer, back), ds.slug
        assert len(back.query(shapely.box(0, 0, 1e7, 1e7))) == len(layer)  # its tree works
    # Mode 0700 for the directories, 0600 for the files: they hold what the database holds.
    for path in (tmp_path / "files").rglob("*"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    assert not (tmp_path / "files" / "vulnerable-persons").exists()


def test_a_file_is_read_only_for_the_content_it_was_written_for(tdb: Any, tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "files")
    rows = catalogue.layer_rows(tdb, "schools")
    token = rows.token
    store.save(build_layer("schools", rows), token)
    feature = next(catalogue.features(tdb, "schools"))
    prepared = catalogue.PreparedFeature(
        feature["id"],
        feature["geometry"],
        {**feature["properties"], "name": "FICTIF — X"},
        (0, 0, 0, 0),
    )
    catalogue.write_features(tdb, T0, "schools", [prepared], actor="t", file_name="x")
    new_token = token_of(tdb, "schools")
    assert new_token != token and store.load("schools", new_token) is None
    # Writing the new content replaces the old file.
    store.save(build_layer("schools", catalogue.layer_rows(tdb, "schools")), new_token)
    assert store.load("schools", token) is None
    assert len(list((tmp_path / "files" / "schools").iterdir())) == 1


def test_an_unreadable_file_is_ignored(tdb: Any, tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "files")
    rows = catalogue.layer_rows(tdb, "roads")
    store.save(build_layer("roads", rows), rows.token)
    (kept,) = (tmp_path / "files" / "roads").iterdir()
    (kept / "coords.npy").write_bytes(b"not numpy")
    assert store.load("roads", rows.token) is None


def test_the_index_reads_its_files_instead_of_the_rows(tdb: Any, tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "files")
    consumed: list[str] = []

    def loader(slug: str) -> Any:
        rows = catalogue.layer_rows(tdb, slug)
        chunks = rows.chunks

        def counted() -> Any:
            consumed.append(slug)
            yield from chunks

        rows.chunks = counted()
        return rows

    first = SpatialIndex(loader, files=store)
    layer = first.layer("population-grid")
    store.save(layer, token_of(tdb, "population-grid"))  # as save_later does
    assert consumed == ["population-grid"]
    second = SpatialIndex(loader, files=store)  # a restart
    again = second.layer("population-grid")
    assert consumed == ["population-grid"] and same(layer, again)
    assert not tdb.conn.in_transaction  # the unread rows' snapshot was ended


def test_prune_keeps_only_the_datasets_named(tdb: Any, tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "files")
    for slug in ("roads", "schools"):
        rows = catalogue.layer_rows(tdb, slug)
        store.save(build_layer(slug, rows), rows.token)
    store.prune({"roads"})
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == ["roads"]


def test_where_the_files_go() -> None:
    assert config.index_files_dir("/srv/crisis.db", {}) == "/srv/crisis.db.index"
    assert config.index_files_dir("/srv/crisis.db", {"CRISIS_INDEX_FILES": "0"}) is None
    assert config.index_files_dir(":memory:", {}) is None
    got = config.index_files_dir("/srv/crisis.db", {"CRISIS_INDEX_FILES": "/var/cache/cc"})
    assert got == "/var/cache/cc/crisis.db"
