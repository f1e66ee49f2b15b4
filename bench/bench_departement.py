"""Import a département-size territory (GeoPackage, FlatGeobuf, zipped Shapefile) vs ogr2ogr.

    python -m bench.bench_departement [--quick] [--scale S] [--repeat N]

The synthetic département of ``scripts/make_departement.py`` (1,000,000 points, 500,000 network
segments, 250,000 grid cells at scale 1) is imported layer by layer with ``crisis-console``'s
importer (validation of every feature, reprojection, the field mapping, one transaction) and
translated by GDAL's ``ogr2ogr`` into a GeoPackage reprojected to WGS84, the reference. Runs are
interleaved (ours, then ogr2ogr, per layer, per repeat), each in a fresh process, so that both see
the same machine state; the table gives the minimum and median wall time and the peak resident
memory of each, and their ratios. ogr2ogr validates nothing: the ratio is the price of checking.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import auth, catalogue, demo, imports, schema
from app.catalogue_file import load_catalogue
from app.db import connect

from .common import print_table

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
PROJECT = Path(__file__).resolve().parent.parent
DATA = PROJECT / "data"


def generator() -> Any:
    """scripts/make_departement.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "make_departement", PROJECT / "scripts" / "make_departement.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# (dataset, file, layer) of each import, in the order they are run.
LAYERS = (
    ("schools", "etablissements.fgb", None),
    ("water-network", "reseau_eau.zip", None),
    ("population-grid", "departement.gpkg", "carreaux"),
)


def prepare(db: Any, folder: Path) -> None:
    """A fresh database with the catalogue's datasets and the département as territory."""
    schema.migrate(db)
    demo.load_accounts(db, NOW, DATA)
    doc = load_catalogue(DATA / "catalogue.yaml")
    for org in doc.organisations:
        auth.ensure_org(db, NOW, org.slug, org.name, org.kind)
    mapping = generator().WATER_MAPPING
    for slug in ("territory", "schools", "water-network", "population-grid"):
        spec = doc.dataset(slug)
        assert spec is not None
        if slug == "water-network":  # the owner's own field names, mapped once
            spec = spec.model_validate(spec.model_dump() | {"mapping": mapping})
        catalogue.ensure_dataset(db, NOW, spec, actor="bench")
    imports.import_file(
        db, NOW, "territory", folder / "departement.gpkg", actor="bench", layer="territory"
    )


def import_layer(db: Any, folder: Path, slug: str, name: str, layer: str | None) -> int:
    result = imports.import_file(db, NOW, slug, folder / name, actor="bench", layer=layer)
    return result.features


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**10
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def child_ours(folder: Path, index: int) -> dict[str, Any]:
    slug, name, layer = LAYERS[index]
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "bench.db")
        prepare(db, folder)
        Path("/proc/self/clear_refs").write_text("5")  # reset the RSS high-water mark
        t0 = time.perf_counter()
        count = import_layer(db, folder, slug, name, layer)
        seconds = time.perf_counter() - t0
        peak = vm_hwm_mb()
        db.conn.close()
    return {"seconds": seconds, "rss_mb": peak, "count": count}


def child_ogr2ogr(folder: Path, index: int) -> dict[str, Any]:
    _, name, layer = LAYERS[index]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.gpkg"
        source = str(folder / name)
        if source.endswith(".zip"):  # Debian's GDAL opens a zipped Shapefile through /vsizip/
            source = "/vsizip/" + source
        cmd = ["ogr2ogr", "-f", "GPKG", "-t_srs", "EPSG:4326", str(out), source]
        if layer:
            cmd.append(layer)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**10
    return {"seconds": seconds, "rss_mb": peak}


def run_child(kind: str, folder: Path, index: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "bench.bench_departement",
        "--child",
        kind,
        str(folder),
        str(index),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=PROJECT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["--child"]:
        kind, folder, index = args_list[1], Path(args_list[2]), int(args_list[3])
        fn = child_ours if kind == "ours" else child_ogr2ogr
        print(json.dumps(fn(folder, index)))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a 20x smaller département")
    parser.add_argument("--scale", type=float, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="generate into this folder")
    args = parser.parse_args(args_list)
    scale = args.scale or (0.05 if args.quick else 1.0)
    repeat = args.repeat or 3
    if shutil.which("ogr2ogr") is None:
        sys.exit("ogr2ogr not found: apt-get install gdal-bin")
    tmp = None
    folder = args.keep
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="departement-")
        folder = Path(tmp.name)
    t0 = time.perf_counter()
    sizes = generator().generate(folder, scale)
    files = {n: (folder / n).stat().st_size / 2**20 for n in {f for _, f, _ in LAYERS}}
    print(
        f"département ×{scale}: {sizes['points']:,} points, {sizes['segments']:,} segments,"
        f" {sizes['cells']:,} cells; generated in {time.perf_counter() - t0:.0f} s; files "
        + ", ".join(f"{n} {mb:.0f} MB" for n, mb in sorted(files.items()))
    )
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for _ in range(repeat):
        for index in range(len(LAYERS)):
            for kind in ("ours", "ogr2ogr"):  # interleaved: same machine state for both
                runs.setdefault((index, kind), []).append(run_child(kind, folder, index))
    rows = []
    for index, (slug, name, layer) in enumerate(LAYERS):
        ours, ref = runs[(index, "ours")], runs[(index, "ogr2ogr")]
        t_ours = [r["seconds"] for r in ours]
        t_ref = [r["seconds"] for r in ref]
        m_ours = max(r["rss_mb"] for r in ours)
        m_ref = max(r["rss_mb"] for r in ref)
        rows.append(
            [
                f"{name}{':' + layer if layer else ''} → {slug}",
                ours[0]["count"],
                round(min(t_ours), 2),
                round(statistics.median(t_ours), 2),
                round(min(t_ref), 2),
                round(statistics.median(t_ref), 2),
                round(statistics.median(t_ours) / statistics.median(t_ref), 1),
                round(m_ours, 0),
                round(m_ref, 0),
                round(m_ours / m_ref, 1),
            ]
        )
    print(f"{repeat} runs each, interleaved; each run in a fresh process")
    print_table(
        rows,
        [
            "file → dataset",
            "features",
            "ours min s",
            "ours med s",
            "ogr2ogr min s",
            "ogr2ogr med s",
            "time ratio",
            "ours peak MB",
            "ogr2ogr peak MB",
            "memory ratio",
        ],
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
