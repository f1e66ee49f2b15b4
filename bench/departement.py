"""A département-size SYNTHETIC console database for the benchmarks (not a benchmark itself).

The demo database (``crisis-console init`` + ``demo``, the real commands) plus, at ``scale`` 1:

- ``etablissements-76``: a new public point dataset of 1,000,000 establishments (the *big layer*:
  the impact analysis counts and lists it, no map draws it);
- ``water-network``: its features replaced by 500,000 segments (restricted, counts only);
- ``population-grid``: its features replaced by 250,000 cells of 200 m.

Same extent, counts, seed and field names as ``scripts/make_departement.py`` (the GIS-formats
generator: about the Seine-Maritime, ``default_rng(76)``, ids ``DEMO-DEP-…``, names
``FICTIF — …``, commune codes ``D0001``…, ``source`` = ``synthetic``); the features are written
through :func:`app.catalogue.write_features` (the console's storage path) without going through
a file. The database is cached in ``build/bench/`` and reused while this generator's
:data:`VERSION` and the scale are the same; each run gets its own copy.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pyproj import Transformer

PROJECT = Path(__file__).resolve().parent.parent
CACHE = PROJECT / "build" / "bench"
VERSION = "1"
BBOX = (0.10, 49.28, 1.76, 50.04)  # lon/lat, about the Seine-Maritime (make_departement.py)
POINTS, SEGMENTS, CELLS, COMMUNES = 1_000_000, 500_000, 250_000, 700
BIG = "etablissements-76"
TYPES = np.array(["creche", "ecole", "college", "lycee"], dtype=object)
MATERIALS = np.array(["fonte", "PVC", "PEHD", "acier"], dtype=object)
AGES = (
    "ind_0_3",
    "ind_4_5",
    "ind_6_10",
    "ind_11_17",
    "ind_18_24",
    "ind_25_39",
    "ind_40_54",
    "ind_55_64",
    "ind_65_79",
    "ind_80p",
)
BATCH = 50_000
BIG_SPEC = {
    "slug": BIG,
    "title": "Établissements du département (FICTIF, banc d'essai)",
    "description": "1 000 000 établissements synthétiques sur l'emprise du département.",
    "owner": "departement-76",
    "theme": "population",
    "geometry_type": "Point",
    "sensitivity": "public",
    "id_field": "id",
    "source": "synthetic",
    "fields": [
        {"name": "id", "type": "str", "required": True},
        {"name": "name", "type": "str", "required": True},
        {"name": "type", "type": "str", "required": True},
        {"name": "capacity", "type": "int", "required": True},
        {"name": "commune", "type": "str"},
        {"name": "commune_insee", "type": "str"},
        {"name": "source", "type": "str", "required": True},
    ],
}


def counts(scale: float) -> dict[str, int]:
    side = max(2, int(round(math.sqrt(CELLS * scale))))
    return {
        "points": max(10, int(POINTS * scale)),
        "segments": max(10, int(SEGMENTS * scale)),
        "cells": side * side,
    }


def _codes(n: int, rng: np.random.Generator) -> list[str]:
    return [f"D{k:04d}" for k in rng.integers(1, COMMUNES + 1, n)]


def _l93_box() -> tuple[float, float, float, float]:
    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
    minx, miny, maxx, maxy = BBOX
    xs, ys = to_l93.transform([minx, maxx, minx, maxx], [miny, miny, maxy, maxy])
    return (
        max(xs[0], xs[2]) + 1000,
        max(ys[0], ys[1]) + 1000,
        min(xs[1], xs[3]) - 1000,
        min(ys[2], ys[3]) - 1000,
    )


def _points(n: int, rng: np.random.Generator) -> Iterator[object]:
    from app.catalogue import PreparedFeature

    minx, miny, maxx, maxy = BBOX
    for start in range(0, n, BATCH):
        k = min(BATCH, n - start)
        lon = np.round(rng.uniform(minx + 0.01, maxx - 0.01, k), 6).tolist()
        lat = np.round(rng.uniform(miny + 0.01, maxy - 0.01, k), 6).tolist()
        codes = _codes(k, rng)
        types = TYPES[rng.integers(0, 4, k)].tolist()
        caps = rng.integers(10, 900, k).tolist()
        for j in range(k):
            i = start + j
            x, y = lon[j], lat[j]
            yield PreparedFeature(
                f"DEMO-DEP-P{i}",
                {"type": "Point", "coordinates": [x, y]},
                {
                    "id": f"DEMO-DEP-P{i}",
                    "name": f"FICTIF — Établissement {i}",
                    "type": types[j],
                    "capacity": caps[j],
                    "commune": f"FICTIF — Commune {codes[j]}",
                    "commune_insee": codes[j],
                    "source": "synthetic",
                },
                (x, y, x, y),
            )


def _segments(n: int, rng: np.random.Generator) -> Iterator[object]:
    from app.catalogue import PreparedFeature

    to_wgs = Transformer.from_crs(2154, 4326, always_xy=True)
    x0, y0, x1, y1 = _l93_box()
    for start in range(0, n, BATCH):
        k = min(BATCH, n - start)
        x = rng.uniform(x0 + 400, x1 - 400, k)
        y = rng.uniform(y0 + 400, y1 - 400, k)
        angle = rng.uniform(0, 2 * np.pi, k)
        length = rng.uniform(40, 300, k)
        lon1, lat1 = to_wgs.transform(x, y)
        lon2, lat2 = to_wgs.transform(x + length * np.cos(angle), y + length * np.sin(angle))
        ends = np.round(np.column_stack([lon1, lat1, lon2, lat2]), 7).tolist()
        diam = (rng.choice([6.0, 8.0, 10.0, 15.0, 20.0, 30.0], k) * 10).astype(int).tolist()
        mats = MATERIALS[rng.integers(0, 4, k)].tolist()
        kinds = np.where(rng.random(k) < 0.9, "distribution", "adduction").tolist()
        codes = _codes(k, rng)
        for j in range(k):
            a, b, c, d = ends[j]
            yield PreparedFeature(
                f"DEMO-DEP-W{start + j}",
                {"type": "LineString", "coordinates": [[a, b], [c, d]]},
                {
                    "id": f"DEMO-DEP-W{start + j}",
                    "diameter_mm": diam[j],
                    "material": mats[j],
                    "kind": kinds[j],
                    "commune_insee": codes[j],
                    "source": "synthetic",
                },
                (min(a, c), min(b, d), max(a, c), max(b, d)),
            )


def _cells(n: int, rng: np.random.Generator) -> Iterator[object]:
    from app.catalogue import PreparedFeature

    to_wgs = Transformer.from_crs(2154, 4326, always_xy=True)
    side = int(round(math.sqrt(n)))
    x0, y0, x1, y1 = _l93_box()
    size = 200.0
    cx = x0 + ((x1 - x0) - side * size) / 2
    cy = y0 + ((y1 - y0) - side * size) / 2
    rows_per_batch = max(1, BATCH // side)
    for r0 in range(0, side, rows_per_batch):
        ii, jj = np.meshgrid(np.arange(side), np.arange(r0, min(side, r0 + rows_per_batch)))
        ii, jj = ii.ravel(), jj.ravel()
        k = len(ii)
        xmin, ymin = cx + ii * size, cy + jj * size
        corners = [
            (xmin, ymin),
            (xmin + size, ymin),
            (xmin + size, ymin + size),
            (xmin, ymin + size),
        ]
        ll = [np.round(np.column_stack(to_wgs.transform(a, b)), 7) for a, b in corners]
        ind = rng.integers(0, 400, k)
        shares = rng.dirichlet(np.ones(len(AGES)), k)
        ages = np.round(ind[:, None] * shares, 2).tolist()
        men = np.round(ind / 2.2, 1).tolist()
        codes = _codes(k, rng)
        ind_l = ind.tolist()
        rings = np.stack(ll, 1).tolist()  # k x 4 x 2
        for m in range(k):
            ring = rings[m]
            ring = [*ring, ring[0]]
            xs = [p[0] for p in ring]
            ys = [p[1] for p in ring]
            props: dict[str, object] = {
                "idcar_200m": f"DEMO-DEP-C{int(jj[m])}-{int(ii[m])}",
                "ind": ind_l[m],
                "men": men[m],
            }
            for a, name in enumerate(AGES):
                props[name] = ages[m][a]
            props["commune_insee"] = codes[m]
            props["source"] = "synthetic"
            yield PreparedFeature(
                str(props["idcar_200m"]),
                {"type": "Polygon", "coordinates": [ring]},
                props,
                (min(xs), min(ys), max(xs), max(ys)),
            )


def _cli(env: dict[str, str], *args: str) -> None:
    exe = Path(sys.executable).with_name("crisis-console")
    done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"crisis-console {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def env_for(db_path: Path, workdir: Path) -> dict[str, str]:
    """The environment of a console process on ``db_path`` (scheduler off, keys in workdir)."""
    return {
        **os.environ,
        "CRISIS_DB": str(db_path),
        "CRISIS_SECRET_KEY": "bench-" + "0" * 58,
        "CRISIS_CHECKPOINT_KEY": str(workdir / "checkpoint.key"),
        "CRISIS_CHECKPOINT_DIR": str(workdir / "checkpoints"),
        "CRISIS_BACKUP_DIR": str(workdir / "backups"),
        "CRISIS_SCHEDULER": "0",
    }


def demo_database(path: Path, workdir: Path) -> Path:
    """The demo database made by the real commands (cached in build/bench)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"demo-v{VERSION}.db"
    if not cached.exists():
        tmp = CACHE / f"demo-v{VERSION}.tmp.db"
        tmp.unlink(missing_ok=True)
        env = env_for(tmp, workdir)
        _cli(env, "init")
        _cli(env, "demo", "--quiet")
        _checkpoint(tmp)
        tmp.rename(cached)
    shutil.copy(cached, path)
    _cli(env_for(path, workdir), "init")  # migrations added since the cache was made
    return path


def departement_database(path: Path, workdir: Path, scale: float = 1.0) -> Path:
    """The département-size database at ``path`` (built once per VERSION and scale, cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"departement-v{VERSION}-s{scale:g}.db"
    if not cached.exists():
        tmp = cached.with_suffix(".tmp.db")
        tmp.unlink(missing_ok=True)
        demo_database(tmp, workdir)
        t0 = time.perf_counter()
        fill(tmp, scale)
        _checkpoint(tmp)
        print(f"département database built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        tmp.rename(cached)
    shutil.copy(cached, path)
    _cli(env_for(path, workdir), "init")
    return path


def _checkpoint(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file to copy
    conn.close()


def fill(path: Path, scale: float = 1.0) -> dict[str, int]:
    """Add the big layers to the demo database at ``path``."""
    from app import catalogue
    from app.db import connect

    sizes = counts(scale)
    rng = np.random.default_rng(76)
    now = datetime.now(UTC)
    db = connect(path)
    try:
        catalogue.ensure_dataset(db, now, BIG_SPEC, actor="bench")
        for slug, feats in (
            (BIG, _points(sizes["points"], rng)),
            ("water-network", _segments(sizes["segments"], rng)),
            ("population-grid", _cells(sizes["cells"], rng)),
        ):
            catalogue.write_features(
                db,
                now,
                slug,
                feats,  # type: ignore[arg-type]
                actor="bench",
                file_name=f"bench/departement.py ({slug})",
                replace=True,
                batch=5000,
            )
    finally:
        db.conn.close()
    return sizes


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        departement_database(args.out, Path(tmp), args.scale)
    print(args.out)
