"""First impact answer after a restart: a fresh server on the département vs on the demo.

    python -m bench.bench_restart [--quick] [--rounds N]

Each sample starts ``crisis-console serve`` (one gunicorn process with threads, on a free port
of 127.0.0.1, the scheduler off) on a copy of the territory's database, then asks, as a client
would right after the restart: the sign-in page until it answers (the server is up), a bare
``GET /api/v1/whoami`` (the console answers while the index builds in the background), then
``GET /api/v1/events/<id>/impact`` of the toxic-release event (it waits for the layers it needs).
Times are from the moment the process is started. Demo and département alternate in each round
(``--rounds``, >= 5); min and median; the ratio is département / demo in the same run. A restart
finds the layer files the previous run wrote (``CRISIS_INDEX_FILES``); the first start after the
territory was imported, without them, is given apart (one sample each). Also given: the
worker's resident memory once its background build is done.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.bench_load import request
from bench.common import print_table
from bench.scale import Territory, territory

HOST = "127.0.0.1"
TARGET = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait(port: int, path: str, headers: dict[str, str], deadline: float) -> float:
    while time.monotonic() < deadline:
        try:
            status, _, _ = request(port, "GET", path, headers, timeout=300)
            if status == 200:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"no answer from {path} in time")


def _files_written(t: Territory, deadline: float) -> None:
    """Wait until the server's layer files are written (no temporary directory left)."""
    root = Path(str(t.db_path) + ".index")
    while time.monotonic() < deadline:
        pending = list(root.glob("*/.tmp-*")) if root.exists() else [root]
        if not pending:
            return
        time.sleep(0.2)


def one_restart(t: Territory, log: Path, settle: bool = False) -> dict[str, float]:
    """Start a fresh server on ``t``; the times of its first answers (seconds from start).

    ``settle``: before stopping it, wait until it has written its layer files.
    """
    import psutil

    port = free_port()
    exe = Path(sys.executable).with_name("crisis-console")
    out = open(log, "w")  # noqa: SIM115 - closed below
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", HOST, "--port", str(port)],
        env={**t.env, "CRISIS_SCHEDULER": "0", "CRISIS_THREADS": "8"},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    auth = {"Authorization": f"Bearer {t.token}"}
    deadline = time.monotonic() + 600
    try:
        ready = _wait(port, "/login", {}, deadline) - t0
        w0 = time.perf_counter()
        _wait(port, "/api/v1/whoami", auth, deadline)
        whoami = time.perf_counter() - w0
        first = _wait(port, f"/api/v1/events/{t.events['toxic']}/impact", auth, deadline) - t0
        built = None
        while time.monotonic() < deadline and built is None:
            for line in log.read_text(errors="replace").splitlines():
                if "spatial index:" in line and "layers ready in" in line:
                    built = float(line.rsplit("ready in ", 1)[1].split()[0])
            time.sleep(0.05)
        rss = 0.0
        for child in psutil.Process(proc.pid).children(recursive=True):
            rss = max(rss, child.memory_info().rss / 2**20)
        if settle:
            _files_written(t, deadline)
        return {
            "ready": ready,
            "whoami during the build": whoami,
            "first impact answer": first,
            "after ready": first - ready,
            "build": built or float("nan"),
            "rss": rss,
        }
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the département")
    parser.add_argument("--rounds", type=int, default=None, help="restarts of each (>= 5)")
    args = parser.parse_args(argv)
    rounds = max(5, args.rounds or 5)
    work = Path(tempfile.mkdtemp(prefix="crisis-bench-restart-"))
    names = ("demo", "departement")
    terr = {k: territory(k, work / k, 0.1 if args.quick else 1.0) for k in names}
    samples: dict[str, dict[str, list[float]]] = {k: defaultdict(list) for k in names}
    # The first start after the territory was imported: no layer file yet (built from the
    # database, then written). The measured restarts follow it.
    first_start = {k: one_restart(terr[k], work / f"{k}-first.log", settle=True) for k in names}
    for r in range(rounds):
        for k in names:
            got = one_restart(terr[k], work / f"{k}-{r}.log")
            for name, value in got.items():
                samples[k][name].append(value)
            print(
                f"round {r + 1} {k}: first impact answer {got['first impact answer']:.2f} s",
                file=sys.stderr,
                flush=True,
            )

    def stat(k: str, name: str) -> tuple[float, float]:
        values = samples[k][name]
        return min(values), statistics.median(values)

    print(
        f"Fresh server processes (crisis-console serve), {rounds} restarts of each, alternating;"
        " seconds from the start of the process (min / median); ratio: département / demo\n"
    )
    rows: list[list[Any]] = []
    for name in ("ready", "whoami during the build", "first impact answer", "after ready", "build"):
        (d_lo, d_med), (lo, med) = stat("demo", name), stat("departement", name)
        label = {
            "ready": "server answers (sign-in page)",
            "whoami during the build": "a bare whoami right after (s)",
            "first impact answer": "first impact answer",
            "after ready": "  of which after the server answers",
            "build": "background build of every layer (log)",
        }[name]
        rows.append([label, d_lo, d_med, lo, med, med / d_med if d_med else float("nan")])
    print_table(
        rows,
        ["", "demo min", "demo median", "département min", "département median", "ratio"],
    )
    first = {k: first_start[k]["first impact answer"] for k in names}
    print(
        "\nfirst start after an import (no layer file yet, one sample): first impact answer "
        f"demo {first['demo']:.2f} s, département {first['departement']:.2f} s "
        f"(ratio {first['departement'] / first['demo']:.2f})"
    )
    demo_rss, dep_rss = stat("demo", "rss")[1], stat("departement", "rss")[1]
    print(
        f"\nworker resident memory once built: demo {demo_rss:,.0f} MB, "
        f"département {dep_rss:,.0f} MB"
    )
    (d_lo, d_med), (lo, med) = (
        stat("demo", "first impact answer"),
        stat("departement", "first impact answer"),
    )
    ratio, lo_ratio = med / d_med, lo / d_lo
    state = "met" if ratio <= TARGET else ("met on min only" if lo_ratio <= TARGET else "NOT met")
    print(
        f"\ntarget: first impact answer after a restart, département / demo: {ratio:.2f} "
        f"(min {lo_ratio:.2f}; target <= {TARGET:g}): {state}"
    )
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
