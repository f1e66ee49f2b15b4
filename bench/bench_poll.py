"""Live picture polling: one poll of an unchanged event against whoami; server CPU, 50 tablets.

    python -m bench.bench_poll [--quick] [--repeats N] [--requests N] [--duration S] [--tablets N]

Builds a temporary database with the real commands (``crisis-console init`` and ``demo``, as
``bench_load`` does), one API token per simulated tablet, starts ``crisis-console serve`` on a
free port of 127.0.0.1 (one gunicorn process with threads, the scheduler off) and declares one
event. Then:

1. **One poll of an unchanged event** — ``GET /api/v1/events/<id>/state`` with ``If-None-Match``
   (a 304), what every open view sends every 2 s (``static/js/live.js``) — against a bare
   ``GET /api/v1/whoami`` (authentication, JSON, no event read), in the same run, interleaved
   request by request on one kept-alive connection, ``--repeats`` times ``--requests`` each. The
   ratio of the mean latencies is given per repeat: min and median (target: at most 1.5×). The
   state with a body (the first poll of a page, or after a change) and the main courante's own
   poll (``log?since=``, which the live state replaced) are timed in the same rounds.
2. **Server CPU with 50 tablets polling the same event** — each tablet polls the state every 2 s
   with its ETag for ``--duration`` s (a cell member writes an entry every 10 s, so the tablets
   also see real changes), then the same tablets poll ``whoami`` every 2 s (the reference). The
   server's CPU time (gunicorn master and worker) is read from /proc through psutil.

Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.bench_load import HOST, Server, declare_event, free_port, prepare
from bench.common import print_table

TARGET_RATIO = 1.5
POLL_SECONDS = 2.0  # static/js/live.js


class Client:
    """A kept-alive HTTP connection with a Bearer token (a tablet's browser keeps its own)."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers={**self.headers, **(headers or {})})
                resp = self.conn.getresponse()
                body = resp.read()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
            except (http.client.HTTPException, OSError):
                self.conn.close()  # the server closed an idle connection: open a new one
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server process and its children (gunicorn workers)."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def latency_rounds(
    port: int, token: str, event_id: int, repeats: int, requests: int
) -> tuple[list[list[Any]], list[float]]:
    """Interleaved timings; returns the table rows and the per-repeat ratios state/whoami."""
    client = Client(port, token)
    status, headers, _ = client.get(f"/api/v1/events/{event_id}/state")
    assert status == 200, status
    etag = headers["etag"]
    _, _, log = client.get(f"/api/v1/events/{event_id}/log")
    last_id = json.loads(log)["last_id"]
    state = f"/api/v1/events/{event_id}/state"
    kinds = {
        "whoami (reference)": ("/api/v1/whoami", {}, 200),
        "state, unchanged (304)": (state, {"If-None-Match": etag}, 304),
        "state, with its body (200)": (state, {}, 200),
        "log since last (JSON, replaced)": (f"{state[:-6]}/log?since={last_id}", {}, 200),
    }
    for path, hdrs, expected in kinds.values():  # warm-up
        for _ in range(20):
            status, _, _ = client.get(path, hdrs)
            assert status == expected, (path, status)
    per_repeat: dict[str, list[float]] = {k: [] for k in kinds}
    ratios: list[float] = []
    for _ in range(repeats):
        times: dict[str, list[float]] = {k: [] for k in kinds}
        order = list(kinds)
        for _ in range(requests):
            random.shuffle(order)  # interleaved, in no fixed order
            for kind in order:
                path, hdrs, expected = kinds[kind]
                t0 = time.perf_counter()
                status, _, _ = client.get(path, hdrs)
                times[kind].append(time.perf_counter() - t0)
                if status != expected:
                    raise SystemExit(f"{path}: HTTP {status}, expected {expected}")
        for kind in kinds:
            per_repeat[kind].append(statistics.mean(times[kind]) * 1000)
        ratios.append(
            statistics.mean(times["state, unchanged (304)"])
            / statistics.mean(times["whoami (reference)"])
        )
    client.close()
    ref = per_repeat["whoami (reference)"]
    rows = []
    for kind, means in per_repeat.items():
        rel = [m / r for m, r in zip(means, ref, strict=True)]
        rows.append([kind, min(means), statistics.median(means), min(rel), statistics.median(rel)])
    return rows, ratios


def tablets(
    port: int, tokens: list[str], path_for: Any, duration: float, writer: str | None, event_id: int
) -> dict[str, Any]:
    """Every tablet polls ``path_for(state)`` every 2 s for ``duration``; CPU of the server."""
    stop = threading.Event()
    counts = {"304": 0, "200": 0, "other": 0}
    lock = threading.Lock()

    def tablet(token: str) -> None:
        client = Client(port, token)
        etag: str | None = None
        stop.wait(random.uniform(0, POLL_SECONDS))  # tablets do not poll in step
        while not stop.is_set():
            path = path_for()
            status, headers, _ = client.get(path, {"If-None-Match": etag} if etag else {})
            if status == 200 and "etag" in headers:
                etag = headers["etag"]
            with lock:
                key = str(status) if status in (200, 304) else "other"
                counts[key] += 1
            stop.wait(POLL_SECONDS)
        client.close()

    def cell(token: str) -> None:
        client = Client(port, token)
        n = 0
        while not stop.wait(10):
            n += 1
            body = json.dumps({"category": "information", "text": f"Bench : point n° {n}"})
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            conn.request(
                "POST",
                f"/api/v1/events/{event_id}/log",
                body=body,
                headers={**client.headers, "Content-Type": "application/json"},
            )
            conn.getresponse().read()
            conn.close()
        client.close()

    threads = [threading.Thread(target=tablet, args=(t,), daemon=True) for t in tokens]
    if writer:
        threads.append(threading.Thread(target=cell, args=(writer,), daemon=True))
    return {"threads": threads, "stop": stop, "counts": counts, "duration": duration}


def run_phase(pid: int, phase: dict[str, Any]) -> dict[str, float]:
    cpu0, t0 = server_cpu(pid), time.perf_counter()
    for t in phase["threads"]:
        t.start()
    phase["stop"].wait(phase["duration"])
    phase["stop"].set()
    for t in phase["threads"]:
        t.join(timeout=40)
    wall = time.perf_counter() - t0
    cpu = server_cpu(pid) - cpu0
    polls = sum(phase["counts"].values())
    return {
        "wall": wall,
        "cpu": cpu,
        "polls": polls,
        "rate": polls / wall,
        "cpu_pct": 100 * cpu / wall,
        "cpu_ms_per_poll": 1000 * cpu / max(polls, 1),
        "304": phase["counts"]["304"],
        "200": phase["counts"]["200"],
        "other": phase["counts"]["other"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, 20 s of load")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (at least 5)")
    parser.add_argument("--requests", type=int, default=None, help="requests per kind per round")
    parser.add_argument("--duration", type=float, default=None, help="seconds per load phase")
    parser.add_argument("--tablets", type=int, default=50)
    parser.add_argument("--template", type=Path, help="copy this demo database (quicker)")
    args = parser.parse_args(argv)
    repeats = max(5, args.repeats or (5 if args.quick else 7))
    requests = args.requests or (100 if args.quick else 300)
    duration = args.duration or (20.0 if args.quick else 60.0)

    workdir = Path(tempfile.mkdtemp(prefix="crisis-bench-poll-"))
    env, people = prepare(workdir, args.tablets, 1, args.template)
    port = free_port()
    server = Server(env, port, workdir / "server.log")
    try:
        server.wait_ready()
        event_id = declare_event(port, people["director_token"])
        rows, ratios = latency_rounds(port, people["liaison"][0], event_id, repeats, requests)
        state_phase = run_phase(
            server.proc.pid,
            tablets(
                port,
                people["liaison"],
                lambda: f"/api/v1/events/{event_id}/state",
                duration,
                people["cell"][0],
                event_id,
            ),
        )
        whoami_phase = run_phase(
            server.proc.pid,
            tablets(port, people["liaison"], lambda: "/api/v1/whoami", duration, None, event_id),
        )
    finally:
        server.stop()

    print(
        f"One poll, interleaved on one kept-alive connection: {repeats} rounds × {requests}"
        " requests of each kind; mean latency per round in ms, and its ratio to whoami in the"
        " same round\n"
    )
    print_table(rows, ["request", "min ms", "median ms", "min ×whoami", "median ×whoami"])
    verdict = "met" if statistics.median(ratios) <= TARGET_RATIO else "NOT met"
    print(
        f"\ntarget: poll of an unchanged event (304) / whoami: {statistics.median(ratios):.2f}"
        f" (min {min(ratios):.2f}; target <= {TARGET_RATIO}): {verdict}"
    )
    print(
        f"\nServer CPU with {args.tablets} tablets polling every {POLL_SECONDS:.0f} s for"
        f" {duration:.0f} s (crisis-console serve: 1 gunicorn process with threads)\n"
    )
    table = []
    for name, r in (
        ("state of one event (+1 entry / 10 s)", state_phase),
        ("whoami (reference)", whoami_phase),
    ):
        table.append(
            [name, r["polls"], r["rate"], r["304"], r["200"], r["other"], r["cpu"], r["cpu_pct"],
             r["cpu_ms_per_poll"]]
        )  # fmt: skip
    print_table(
        table,
        ["polling", "polls", "polls/s", "304", "200", "errors", "CPU s", "CPU % of a core",
         "CPU ms/poll"],
    )  # fmt: skip
    print(
        f"\nCPU per poll, state / whoami: "
        f"{state_phase['cpu_ms_per_poll'] / max(whoami_phase['cpu_ms_per_poll'], 1e-9):.2f}×"
    )
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)
    errors = state_phase["other"] + whoami_phase["other"]
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
