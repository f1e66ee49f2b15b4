"""Import a generated 200,000-point GeoJSON: streaming importer vs a naive json.load import.

Run with ``python -m bench.bench_import [N]``. Each import runs twice, each time in a fresh
process on a fresh database: once untraced, for the wall time, the CPU time (user + system: on a
shared machine the steadier figure) and the peak RSS during the import (the kernel's high-water
mark, reset just before it, and how far it rose above what the process held before the import);
once under tracemalloc, for the peak of Python allocations (tracemalloc slows allocation-heavy
code a lot, so its time is shown apart). Both imports validate and write the same features: the
digests of the stored features must agree.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import auth, catalogue, demo, imports, schema
from app.db import connect

from .common import peak_rss_mb, print_table, rss_mb

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
DATA = Path(__file__).resolve().parent.parent / "data"


def generate(path: Path, n: int) -> None:
    """n school-like points inside the territory, written feature by feature."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        for i in range(n):
            props = {
                "id": f"DEMO-BENCH-{i}",
                "name": f"FICTIF — Point {i}",
                "type": "ecole",
                "capacity": i % 500,
                "commune": "Bolbec",
                "commune_insee": "76114",
                "source": "synthetic",
            }
            lon = 0.40 + (i % 1000) * 0.0004
            lat = 49.42 + (i // 1000) * 0.0012
            feat = {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            }
            fh.write(("," if i else "") + json.dumps(feat, ensure_ascii=False) + "\n")
        fh.write("]}\n")


def fresh_db(folder: Path, name: str) -> Any:
    import yaml

    db = connect(folder / name)
    schema.migrate(db)
    demo.load_accounts(db, NOW, DATA)
    doc = yaml.safe_load((DATA / "catalogue.yaml").read_text("utf-8"))
    for org in doc["organisations"]:
        auth.ensure_org(db, NOW, org["slug"], org["name"], org.get("kind", "other"))
    spec = next(d for d in doc["datasets"] if d["slug"] == "schools")
    catalogue.ensure_dataset(db, NOW, spec)
    return db


def streaming(db: Any, path: Path) -> int:
    return imports.import_file(db, NOW, "schools", path, actor="bench").features


def naive(db: Any, path: Path) -> int:
    """What the obvious code does: json.load the whole file, validate, write."""
    doc = json.loads(path.read_text("utf-8"))
    dataset = catalogue.require_dataset(db, "schools")
    validator = imports.Validator(dataset, catalogue.territory_extent(db), 4326)
    report = imports._Report(path.name)
    prepared = [validator.check(f, report, f"entité {i}") for i, f in enumerate(doc["features"])]
    assert not report.problems, report.problems[:3]
    return catalogue.write_features(
        db, NOW, "schools", [p for p in prepared if p], actor="bench", file_name=path.name
    ).features


MODES = {"streaming (app.imports)": streaming, "naive json.load": naive}


def stored_digest(db: Any) -> str:
    """A digest of every stored feature (id, geometry, properties, bbox), in id order."""
    h = hashlib.sha256()
    for r in db.execute(
        "SELECT fid, geometry, properties, minx, miny, maxx, maxy FROM features ORDER BY fid"
    ):
        h.update(repr(r).encode())
    return h.hexdigest()[:12]


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def vm_hwm_mb() -> float:
    """The RSS high-water mark since the last reset (Linux), else the process's peak RSS."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except OSError:
        pass
    return peak_rss_mb()


def child(mode: str, path: Path, traced: bool) -> dict[str, Any]:
    """One import in this (fresh) process; what was measured, as a dict."""
    with tempfile.TemporaryDirectory() as tmp:
        db = fresh_db(Path(tmp), "bench.db")
        fn = MODES[mode]
        rss_before = rss_mb()
        reset_peak_rss()
        if traced:
            tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        count = fn(db, path)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        out: dict[str, Any] = {"seconds": elapsed, "cpu_seconds": cpu, "count": count}
        if traced:
            out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        else:
            out["rss_peak_mb"] = vm_hwm_mb()
            out["rss_rise_mb"] = vm_hwm_mb() - rss_before
            out["digest"] = stored_digest(db)
        db.conn.close()
    return out


def run_child(mode: str, path: Path, traced: bool) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.bench_import", "--child", mode, str(path)]
    done = subprocess.run(
        [*args, "--traced"] if traced else args, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]), "--traced" in sys.argv[4:])))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "points.geojson"
        generate(path, n)
        size_mb = path.stat().st_size / 2**20
        rows, digests = [], set()
        for mode in MODES:
            plain = run_child(mode, path, traced=False)
            traced = run_child(mode, path, traced=True)
            digests.add(plain["digest"])
            rows.append(
                [
                    mode,
                    plain["count"],
                    round(plain["seconds"], 2),
                    round(plain["cpu_seconds"], 2),
                    round(plain["rss_peak_mb"], 1),
                    round(plain["rss_rise_mb"], 1),
                    round(traced["traced_peak_mb"], 1),
                    round(traced["seconds"], 2),
                ]
            )
    print(f"{n:,} points, file {size_mb:.1f} MB")
    print_table(
        rows,
        [
            "import",
            "features",
            "seconds",
            "CPU seconds",
            "peak RSS MB",
            "RSS rise MB",
            "peak traced MB",
            "seconds traced",
        ],
    )
    print(
        "stored features identical" if len(digests) == 1 else f"STORED FEATURES DIFFER: {digests}"
    )


if __name__ == "__main__":
    main()
