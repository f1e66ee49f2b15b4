"""Memory per point, segment and cell of the spatial index, after load and at its peak.

    python -m bench.bench_memory [--quick] [--rounds N]

Each sample is a fresh process that opens the département database (``bench/departement.py``)
and builds one layer the way the server does (``app.index_cache``: the stored rows, streamed):
1,000,000 establishment points, 500,000 network segments or 250,000 population cells
(``--quick``: a tenth). Its resident memory is read before the build (imports done), at the
peak during the build (``ru_maxrss``) and after it (garbage collected); the layer's own arrays
and texts (``Layer.nbytes``, the GEOS geometries and tree not included) are the reference the
held memory is compared to. Layers alternate in each round (``--rounds``, >= 5); min and median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import print_table
from bench.departement import BIG, PROJECT, departement_database

LAYERS = {"points": BIG, "segments": "water-network", "cells": "population-grid"}
TARGET_POINT_BYTES = 400
TARGET_PEAK = 2.0


def child(path: str, slug: str) -> None:
    """In a fresh process: build ``slug`` from ``path``; print the memory figures as JSON."""
    import gc
    import resource

    import psutil

    from app.index_cache import index_for_path

    proc = psutil.Process()
    index = index_for_path(path)
    gc.collect()
    before = proc.memory_info().rss
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    layer = index.layer(slug)
    gc.collect()
    held = proc.memory_info().rss - before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - max(before, peak_before)
    print(
        json.dumps({"n": len(layer), "held": held, "peak": max(peak, held), "nbytes": layer.nbytes})
    )


def sample(path: Path, slug: str) -> dict[str, Any]:
    code = f"from bench.bench_memory import child; child({str(path)!r}, {slug!r})"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"memory sample of {slug} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the département")
    parser.add_argument("--rounds", type=int, default=None, help="samples per layer (>= 5)")
    args = parser.parse_args(argv)
    rounds = max(5, args.rounds or 5)
    work = Path(tempfile.mkdtemp(prefix="crisis-bench-memory-"))
    path = departement_database(work / "departement.db", work, 0.1 if args.quick else 1.0)
    got: dict[str, dict[str, list[float]]] = {k: defaultdict(list) for k in LAYERS}
    for _ in range(rounds):
        for kind, slug in LAYERS.items():
            s = sample(path, slug)
            got[kind]["n"].append(s["n"])
            got[kind]["held"].append(s["held"] / s["n"])
            got[kind]["peak"].append(s["peak"] / s["n"])
            got[kind]["nbytes"].append(s["nbytes"] / s["n"])
            got[kind]["peak/held"].append(s["peak"] / s["held"])

    def mm(kind: str, name: str) -> tuple[float, float]:
        v = got[kind][name]
        return min(v), statistics.median(v)

    print(
        f"Fresh process per sample, one layer built from the stored rows; {rounds} rounds; "
        "bytes per feature (min / median)\n"
    )
    rows = []
    for kind in LAYERS:
        n = int(got[kind]["n"][0])
        held, peak, need = mm(kind, "held"), mm(kind, "peak"), mm(kind, "nbytes")
        rows.append(
            [
                f"{kind} ({n:,})",
                held[0],
                held[1],
                peak[1],
                need[1],
                held[1] / need[1],
                mm(kind, "peak/held")[1],
            ]
        )
    print_table(
        rows,
        [
            "layer",
            "held min",
            "held median",
            "peak median",
            "arrays+texts",
            "held / arrays",
            "peak / held",
        ],
    )
    print(
        "\n(held: resident memory after the build, GEOS geometries and the STRtree included; "
        "arrays+texts: what Layer.nbytes counts)"
    )
    per_point = mm("points", "held")[1]
    ratio = mm("points", "peak/held")[1]
    print(
        f"\ntarget: held per point after load: {per_point:.0f} B (target <= "
        f"{TARGET_POINT_BYTES}): {'met' if per_point <= TARGET_POINT_BYTES else 'NOT met'}"
    )
    print(
        f"target: peak during load / held, points: {ratio:.2f} (target <= {TARGET_PEAK:g}): "
        f"{'met' if ratio <= TARGET_PEAK else 'NOT met'}"
    )
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
