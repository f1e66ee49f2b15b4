"""Build a département-size SYNTHETIC territory in the formats owners deliver.

About 700 communes' worth, roughly the Seine-Maritime's extent: 1,000,000 establishment points,
500,000 water-network segments and 250,000 population grid cells (at ``--scale 1``), written as

- ``departement.gpkg``: layers ``territory`` (the outline, WGS84), ``etablissements`` (points,
  WGS84) and ``carreaux`` (200 m cells in Lambert-93, so an import reprojects them);
- ``etablissements.fgb``: the same points as FlatGeobuf;
- ``reseau_eau.zip``: the segments as a zipped Shapefile in Lambert-93 whose fields are the
  owner's (``IDENT``, ``DIAMETRE`` in cm, ``MATERIAU``, ``TYPE`` codes, ``INSEE``, ``ORIGINE``),
  imported through the field mapping :data:`WATER_MAPPING`.

Everything is synthetic (``source`` = ``synthetic``, ids ``DEMO-DEP-…``, names ``FICTIF — …``,
commune codes ``D0001``…, not INSEE codes). Seeded (numpy ``default_rng(76)``). Used by
``make bench`` (bench/bench_departement.py) and by the slow test; the files go to
``build/departement/`` (not in git). Usage::

    .venv/bin/python scripts/make_departement.py [--scale 1.0] [--out build/departement]
"""

from __future__ import annotations

import argparse
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyogrio import raw
from pyproj import Transformer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "departement"
BBOX = (0.10, 49.28, 1.76, 50.04)  # lon/lat, about the Seine-Maritime
POINTS, SEGMENTS, CELLS, COMMUNES = 1_000_000, 500_000, 250_000, 700
TYPES = np.array(["creche", "ecole", "college", "lycee"], dtype=object)
MATERIALS = np.array(["fonte", "PVC", "PEHD", "acier"], dtype=object)
# The water network's owner delivers its own field names; the catalogue maps them once.
WATER_MAPPING: list[dict[str, Any]] = [
    {"source": "IDENT", "field": "id"},
    {"source": "DIAMETRE", "field": "diameter_mm", "unit": "cm"},
    {"source": "MATERIAU", "field": "material"},
    {"source": "TYPE", "field": "kind", "values": {"D": "distribution", "A": "adduction"}},
    {"source": "INSEE", "field": "commune_insee"},
    {"source": "ORIGINE", "field": "source"},
]
BATCH = 100_000


def counts(scale: float) -> dict[str, int]:
    side = max(2, int(round(math.sqrt(CELLS * scale))))
    return {
        "points": max(10, int(POINTS * scale)),
        "segments": max(10, int(SEGMENTS * scale)),
        "cells": side * side,
    }


def _write(path: Path, layer: str, geoms: Any, fields: dict[str, Any], crs: str, **kw: Any) -> None:
    raw.write(
        str(path),
        shapely.to_wkb(geoms),
        geometry_type=kw.pop("geometry_type"),
        field_data=list(fields.values()),
        fields=list(fields),
        crs=crs,
        layer=layer,
        **kw,
    )


def _commune_codes(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.array([f"D{k:04d}" for k in rng.integers(1, COMMUNES + 1, n)], dtype=object)


def territory(out: Path) -> None:
    minx, miny, maxx, maxy = BBOX
    outline = shapely.MultiPolygon([shapely.box(minx, miny, maxx, maxy)])
    fields = {
        "id": np.array(["DEMO-DEP"], dtype=object),
        "name": np.array(["FICTIF — Département synthétique"], dtype=object),
        "official_name": np.array(
            ["FICTIF — Département synthétique (banc d'essai)"], dtype=object
        ),
        "siren": np.array(["000000000"], dtype=object),
        "population_municipale_epci_file": np.array([1_250_000]),
        "population_totale_epci_file": np.array([1_280_000]),
        "area_km2": np.array([6278.0]),
        "source": np.array(["synthetic"], dtype=object),
    }
    _write(
        out / "departement.gpkg",
        "territory",
        np.array([outline]),
        fields,
        "EPSG:4326",
        geometry_type="MultiPolygon",
    )


def points(out: Path, n: int, rng: np.random.Generator) -> None:
    minx, miny, maxx, maxy = BBOX
    gpkg, fgb = out / "departement.gpkg", out / "etablissements.fgb"
    for start in range(0, n, BATCH):
        k = min(BATCH, n - start)
        ids = np.arange(start, start + k)
        lon = np.round(rng.uniform(minx + 0.01, maxx - 0.01, k), 6)
        lat = np.round(rng.uniform(miny + 0.01, maxy - 0.01, k), 6)
        codes = _commune_codes(k, rng)
        fields = {
            "id": np.array([f"DEMO-DEP-P{i}" for i in ids], dtype=object),
            "name": np.array([f"FICTIF — Établissement {i}" for i in ids], dtype=object),
            "type": TYPES[rng.integers(0, 4, k)],
            "capacity": rng.integers(10, 900, k),
            "commune": np.array([f"FICTIF — Commune {c}" for c in codes], dtype=object),
            "commune_insee": codes,
            "source": np.full(k, "synthetic", dtype=object),
        }
        geoms = shapely.points(lon, lat)
        for path, driver in ((gpkg, "GPKG"), (fgb, "FlatGeobuf")):
            _write(
                path,
                "etablissements",
                geoms,
                fields,
                "EPSG:4326",
                geometry_type="Point",
                driver=driver,
                append=start > 0,
            )


def _l93_box() -> tuple[float, float, float, float]:
    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
    minx, miny, maxx, maxy = BBOX
    xs, ys = to_l93.transform([minx, maxx, minx, maxx], [miny, miny, maxy, maxy])
    # The largest Lambert-93 rectangle inside the lon/lat box, with a 1 km margin.
    return (
        max(xs[0], xs[2]) + 1000,
        max(ys[0], ys[1]) + 1000,
        min(xs[1], xs[3]) - 1000,
        min(ys[2], ys[3]) - 1000,
    )


def segments(out: Path, n: int, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = _l93_box()
    folder = out / "reseau_eau"
    folder.mkdir(exist_ok=True)
    shp = folder / "reseau_eau.shp"
    for start in range(0, n, BATCH):
        k = min(BATCH, n - start)
        x = rng.uniform(x0 + 400, x1 - 400, k)
        y = rng.uniform(y0 + 400, y1 - 400, k)
        angle = rng.uniform(0, 2 * np.pi, k)
        length = rng.uniform(40, 300, k)
        coords = np.stack(
            [
                np.stack([x, y], 1),
                np.stack([x + length * np.cos(angle), y + length * np.sin(angle)], 1),
            ],
            1,
        )
        geoms = shapely.linestrings(np.round(coords, 2))
        ids = np.arange(start, start + k)
        fields = {
            "IDENT": np.array([f"DEMO-DEP-W{i}" for i in ids], dtype=object),
            "DIAMETRE": rng.choice([6.0, 8.0, 10.0, 15.0, 20.0, 30.0], k),
            "MATERIAU": MATERIALS[rng.integers(0, 4, k)],
            "TYPE": np.where(rng.random(k) < 0.9, "D", "A").astype(object),
            "INSEE": _commune_codes(k, rng),
            "ORIGINE": np.full(k, "synthetic", dtype=object),
        }
        _write(
            shp,
            "reseau_eau",
            geoms,
            fields,
            "EPSG:2154",
            geometry_type="LineString",
            driver="ESRI Shapefile",
            encoding="UTF-8",
            append=start > 0,
        )
    with zipfile.ZipFile(out / "reseau_eau.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)


AGES = ("ind_0_3", "ind_4_5", "ind_6_10", "ind_11_17", "ind_18_24", "ind_25_39", "ind_40_54")
AGES += ("ind_55_64", "ind_65_79", "ind_80p")


def cells(out: Path, n: int, rng: np.random.Generator) -> None:
    side = int(round(math.sqrt(n)))
    x0, y0, x1, y1 = _l93_box()
    size = 200.0
    cx = x0 + ((x1 - x0) - side * size) / 2
    cy = y0 + ((y1 - y0) - side * size) / 2
    rows_per_batch = max(1, BATCH // side)
    for r0 in range(0, side, rows_per_batch):
        rows = range(r0, min(side, r0 + rows_per_batch))
        ii, jj = np.meshgrid(np.arange(side), np.array(list(rows)))
        ii, jj = ii.ravel(), jj.ravel()
        k = len(ii)
        xmin, ymin = cx + ii * size, cy + jj * size
        geoms = shapely.box(xmin, ymin, xmin + size, ymin + size, ccw=False)
        ind = rng.integers(0, 400, k)
        shares = rng.dirichlet(np.ones(len(AGES)), k)
        fields: dict[str, Any] = {
            "idcar_200m": np.array(
                [f"DEMO-DEP-C{int(a)}-{int(b)}" for a, b in zip(jj, ii, strict=True)], dtype=object
            ),
            "ind": ind,
            "men": np.round(ind / 2.2, 1),
        }
        for a, name in enumerate(AGES):
            fields[name] = np.round(ind * shares[:, a], 2)
        fields["commune_insee"] = _commune_codes(k, rng)
        fields["source"] = np.full(k, "synthetic", dtype=object)
        _write(
            out / "departement.gpkg",
            "carreaux",
            geoms,
            fields,
            "EPSG:2154",
            geometry_type="Polygon",
            append=r0 > 0,
        )


def generate(out: Path = DEFAULT_OUT, scale: float = 1.0, seed: int = 76) -> dict[str, int]:
    """Write the files into ``out`` (replacing them); return the feature counts."""
    out.mkdir(parents=True, exist_ok=True)
    for old in ("departement.gpkg", "etablissements.fgb", "reseau_eau.zip"):
        (out / old).unlink(missing_ok=True)
    for old in (out / "reseau_eau").glob("*") if (out / "reseau_eau").exists() else []:
        old.unlink()
    sizes = counts(scale)
    rng = np.random.default_rng(seed)
    territory(out)
    points(out, sizes["points"], rng)
    segments(out, sizes["segments"], rng)
    cells(out, sizes["cells"], rng)
    (out / "SCALE").write_text(f"{scale}\n")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    sizes = generate(args.out, args.scale)
    print(f"{args.out} : {sizes}")


if __name__ == "__main__":
    main()
