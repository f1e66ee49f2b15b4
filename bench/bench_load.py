"""Load test of the real server on loopback: liaisons polling, cell writing, director reporting.

    python -m bench.bench_load [--quick] [--duration S] [--liaisons N] [--cell N]

Builds a temporary database with the real commands (``crisis-console init`` and ``demo``), adds
one account and one API token per simulated person, starts ``crisis-console serve`` on a free
port of 127.0.0.1 (one gunicorn process with threads, the scheduler off as in production), and
for ``--duration`` seconds (default 300, ``--quick`` 30):

- 50 liaison officers poll their event every 5 s (``GET /api/v1/events/<id>/log?since=…``, the
  event every 30 s, the map's points ``GET /api/v1/events/<id>/map-features`` every 30 s and
  the impact figures ``GET /api/v1/events/<id>/impact`` every 60 s), each with their own
  Bearer token;
- 10 cell members read the log every 5 s and write a main courante entry every 10 s
  (``POST /api/v1/events/<id>/log``);
- 5 desk officers, signed in with a session, reload the impact figures fragment (htmx) every
  10 s and the SVG map every 30 s;
- one director, signed in with a session, generates a report every 30 s (the situation report
  route when the server has one, else the PDF map extract of the event);
- the reference: 2 probes ask a bare ``GET /api/v1/whoami`` every 2 s.

Halfway through, an online backup is taken while the load runs; at the end it is checked
(integrity, schema, audit chain) and restored into a scratch file whose chain verifies.

Prints p50/p95/p99 latency per kind of request, throughput and errors. The goals: no error, and
a p95 of the interactive requests (liaisons, cell, desk) at most 10x the p95 of the bare whoami
in the same run (and under 250 ms on a 2-core machine). Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import print_table

HOST = "127.0.0.1"
INTERACTIVE_GOAL_MS = 250.0
INTERACTIVE_GOAL_X_WHOAMI = 10.0
DESKS = 5


@dataclass
class Stats:
    """Latencies (seconds) and errors, per kind of request."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error:
                self.errors[kind].append(error)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    exe = Path(sys.executable).with_name("crisis-console")
    done = subprocess.run(
        [str(exe), *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"crisis-console {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def prepare(
    workdir: Path, liaisons: int, cell: int, template: Path | None = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """The database (init + demo, by the real commands) and one token per simulated person."""
    env = {
        **os.environ,
        "CRISIS_DB": str(workdir / "crisis.db"),
        "CRISIS_SECRET_KEY": secrets.token_hex(32),
        "CRISIS_CHECKPOINT_KEY": str(workdir / "checkpoint.key"),
        "CRISIS_CHECKPOINT_DIR": str(workdir / "checkpoints"),
        "CRISIS_BACKUP_DIR": str(workdir / "backups"),
        "CRISIS_SCHEDULER": "0",
    }
    t0 = time.perf_counter()
    if template is not None:  # a copy of a database made by init + demo (quicker re-runs)
        import shutil

        shutil.copy(template, env["CRISIS_DB"])
    else:
        cli(env, "init")
        cli(env, "demo", "--quiet")
    cli(env, "init")
    print(f"database ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    from argon2 import PasswordHasher

    from app import auth
    from app.db import connect

    # Cheap hashes for the bench accounts only (sign-in is not what is measured).
    auth.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    db = connect(env["CRISIS_DB"])
    now = datetime.now(UTC)
    people: dict[str, Any] = {"liaison": [], "cell": [], "desk": []}
    for kind, n, org in (("liaison", liaisons, "prefecture-76"), ("cell", cell, "caux-seine")):
        for i in range(1, n + 1):
            login = f"bench-{kind}-{i:02d}"
            auth.add_user(
                db,
                now,
                login,
                name=f"Bench {kind} {i}",
                org_slug=org,
                roles=[kind],
                password=secrets.token_urlsafe(18) + "aA1!",
                actor="bench",
            )
            people[kind].append(auth.create_token(db, now, login, "bench", actor="bench"))
    for i in range(1, DESKS + 1):
        login, password = f"bench-desk-{i:02d}", secrets.token_urlsafe(18) + "aA1!"
        auth.add_user(
            db,
            now,
            login,
            name=f"Bench desk {i}",
            org_slug="caux-seine",
            roles=["cell"],
            password=password,
            actor="bench",
        )
        people["desk"].append((login, password))
    people["probe_token"] = auth.create_token(db, now, "cell", "bench-probe", actor="bench")
    people["director_token"] = auth.create_token(db, now, "director", "bench", actor="bench")
    db.conn.close()
    return env, people


class Server:
    """``crisis-console serve`` in its own process group, stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], port: int, log: Path):
        self.port = port
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        exe = Path(sys.executable).with_name("crisis-console")
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--host", HOST, "--port", str(port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited ({self.proc.returncode}); see {self.log.name}")
            try:
                status, _, _ = request(self.port, "GET", "/login")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit("server not ready in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        headers: dict[str, str] = {}
        for k, v in resp.getheaders():
            k = k.lower()
            headers[k] = f"{headers[k]}\n{v}" if k in headers else v
        return resp.status, headers, data
    finally:
        conn.close()


class Person:
    """A simulated user: a Bearer token or a session, and the requests they make."""

    def __init__(self, port: int, stats: Stats, token: str | None = None):
        self.port = port
        self.stats = stats
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        timeout: float = 30,
        ok: tuple[int, ...] = (200, 201),
    ) -> tuple[int, dict[str, str], bytes]:
        hdrs = {**self.headers, **(headers or {})}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        elif form is not None:
            from urllib.parse import urlencode

            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        t0 = time.perf_counter()
        try:
            status, rh, data = request(self.port, method, path, hdrs, body, timeout)
        except (OSError, http.client.HTTPException) as exc:
            self.stats.record(kind, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
            return 0, {}, b""
        elapsed = time.perf_counter() - t0
        self.stats.record(kind, elapsed, None if status in ok else f"HTTP {status} {path}")
        return status, rh, data


def liaison(port: int, stats: Stats, token: str, event_id: int, stop: threading.Event) -> None:
    me = Person(port, stats, token)
    stop.wait(random.uniform(0, 5))  # tablets do not poll in step
    since = 0
    tick = 0
    while not stop.is_set():
        status, _, data = me.call(
            "liaison: log since", "GET", f"/api/v1/events/{event_id}/log?since={since}"
        )
        if status == 200:
            since = json.loads(data).get("last_id", since) or since
        if tick % 6 == 0:
            me.call("liaison: event", "GET", f"/api/v1/events/{event_id}")
        if tick % 6 == 3:
            me.call("liaison: map points", "GET", f"/api/v1/events/{event_id}/map-features")
        if tick % 12 == 9:
            me.call("liaison: impact API", "GET", f"/api/v1/events/{event_id}/impact")
        tick += 1
        stop.wait(5)


def cell_member(
    port: int, stats: Stats, token: str, event_id: int, n: int, stop: threading.Event
) -> None:
    me = Person(port, stats, token)
    stop.wait(random.uniform(0, 5))
    since = 0
    tick = 0
    categories = ["information", "action", "message reçu", "décision", "message émis"]
    while not stop.is_set():
        status, _, data = me.call(
            "cell: log since", "GET", f"/api/v1/events/{event_id}/log?since={since}"
        )
        if status == 200:
            since = json.loads(data).get("last_id", since) or since
        if tick % 2 == 0:
            me.call(
                "cell: write log",
                "POST",
                f"/api/v1/events/{event_id}/log",
                json_body={
                    "category": categories[tick % len(categories)],
                    "text": f"Bench : point n° {tick} du membre {n} — RAS, surveillance.",
                },
            )
        tick += 1
        stop.wait(5)


def _cookies(jar: dict[str, str], headers: dict[str, str]) -> str:
    """Update a cookie jar from Set-Cookie headers; return the Cookie header to send."""
    for line in headers.get("set-cookie", "").split("\n"):
        name, _, rest = line.partition("=")
        if not name:
            continue
        value = rest.split(";")[0]
        if value and "max-age=0" not in line.lower():
            jar[name] = value
        else:
            jar.pop(name, None)
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def director_session(
    port: int, login: str = "director", password: str | None = None
) -> tuple[dict[str, str], str]:
    """Sign an account in (the demo director by default): session cookie and CSRF token, as a
    browser would."""
    from urllib.parse import urlencode

    from app.demo import DEMO_ACCOUNTS

    if password is None:
        password = next(a.password for a in DEMO_ACCOUNTS if a.login == login)
    jar: dict[str, str] = {}
    status, headers, page = request(port, "GET", "/login")
    cookie = _cookies(jar, headers)
    token = re.search(rb'"X-CSRFToken": "([^"]+)"', page)
    if status != 200 or not token:
        raise SystemExit("no sign-in page")
    status, headers, _ = request(
        port,
        "POST",
        "/login",
        {
            "Cookie": cookie,
            "X-CSRFToken": token.group(1).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        urlencode({"login": login, "password": password}).encode(),
    )
    if status != 302:
        raise SystemExit(f"{login} sign-in failed ({status})")
    cookie = _cookies(jar, headers)
    status, headers, page = request(port, "GET", "/", {"Cookie": cookie})
    cookie = _cookies(jar, headers)
    token = re.search(rb'"X-CSRFToken": "([^"]+)"', page)
    if status != 200 or not token:
        raise SystemExit(f"{login} home page failed ({status})")
    return {"Cookie": cookie}, token.group(1).decode()


def desk(
    port: int, stats: Stats, login: str, password: str, event_id: int, stop: threading.Event
) -> None:
    """A desk officer on the event page: the figures fragment every 10 s, the SVG map every 30 s."""
    headers, _ = director_session(port, login, password)
    me = Person(port, stats)
    stop.wait(random.uniform(0, 10))
    tick = 0
    while not stop.is_set():
        me.call(
            "desk: impact fragment",
            "GET",
            f"/events/{event_id}/impact",
            headers={**headers, "HX-Request": "true"},
        )
        if tick % 3 == 0:
            me.call("desk: SVG map", "GET", f"/events/{event_id}/map.svg", headers=headers)
        tick += 1
        stop.wait(10)


def probe(port: int, stats: Stats, token: str, stop: threading.Event) -> None:
    """The reference of the same run: a bare whoami every 2 s."""
    me = Person(port, stats, token)
    stop.wait(random.uniform(0, 2))
    while not stop.is_set():
        me.call("reference: whoami", "GET", "/api/v1/whoami")
        stop.wait(2)


def report_route(event_id: int) -> tuple[str, str]:
    """What "generate a report" means on this server: the reports route if present."""
    from app import create_app

    app = create_app({"CRISIS_DB": ":memory:", "SECRET_KEY": "x", "CRISIS_SCHEDULER": "0"})
    for rule in app.url_map.iter_rules():
        if rule.rule == "/events/<int:event_id>/reports" and "POST" in (rule.methods or ()):
            return "POST", f"/events/{event_id}/reports"
    for rule in app.url_map.iter_rules():
        if rule.rule == "/events/<int:event_id>/extract.pdf":
            return "GET", f"/events/{event_id}/extract.pdf"
    return "GET", f"/api/v1/events/{event_id}/impact"


def director(
    port: int, stats: Stats, route: tuple[str, str], every: float, stop: threading.Event
) -> None:
    headers, csrf = director_session(port)
    method, path = route
    event_id = path.split("/")[2] if path.startswith("/events/") else path.split("/")[4]
    me = Person(port, stats)
    kind = f"director: {method} {path.replace(str(event_id), '<id>')}"
    stop.wait(2)
    while not stop.is_set():
        if method == "POST":
            me.call(
                kind,
                method,
                path,
                headers={**headers, "X-CSRFToken": csrf, "Referer": f"http://{HOST}:{port}/"},
                form={"trigger": "manual"},
                timeout=120,
                ok=(200, 201, 302, 303),
            )
        else:
            me.call(kind, method, path, headers=headers, timeout=120)
        stop.wait(every)


def declare_event(port: int, token: str) -> int:
    status, _, data = request(
        port,
        "POST",
        "/api/v1/events",
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        json.dumps(
            {
                "playbook": "toxic-release",
                "title": "Bench — rejet toxique FICTIF-1",
                "site": "FICTIF-1",
                "params": {"wind_from_deg": 240, "wind_speed_ms": 4, "release_type": "continu"},
            }
        ).encode(),
        timeout=120,
    )
    if status != 201:
        raise SystemExit(f"could not declare the event ({status}): {data[:300]!r}")
    return int(json.loads(data)["id"])


def backup_under_load(db_path: str, workdir: Path, result: dict[str, Any]) -> None:
    from app import backup

    t0 = time.perf_counter()
    done = backup.backup(db_path, workdir / "under-load.db")
    result["seconds"] = time.perf_counter() - t0
    result["path"] = done.path
    result["audit_seq"] = done.audit_seq


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k] * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s instead of 5 min")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load")
    parser.add_argument("--liaisons", type=int, default=50)
    parser.add_argument("--cell", type=int, default=10)
    parser.add_argument("--report-every", type=float, default=30.0, help="seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--template", type=Path, help="copy this demo database instead of running init + demo"
    )
    args = parser.parse_args(argv)
    duration = args.duration or (30.0 if args.quick else 300.0)

    workdir = Path(tempfile.mkdtemp(prefix="crisis-bench-load-"))
    env, people = prepare(workdir, args.liaisons, args.cell, args.template)
    port = free_port()
    server = Server(env, port, workdir / "server.log")
    stats = Stats()
    stop = threading.Event()
    backup_result: dict[str, Any] = {}
    try:
        server.wait_ready()
        event_id = declare_event(port, people["director_token"])
        threads = [
            threading.Thread(target=liaison, args=(port, stats, t, event_id, stop), daemon=True)
            for t in people["liaison"]
        ]
        threads += [
            threading.Thread(
                target=cell_member, args=(port, stats, t, event_id, i, stop), daemon=True
            )
            for i, t in enumerate(people["cell"], 1)
        ]
        threads += [
            threading.Thread(
                target=desk, args=(port, stats, login, pw, event_id, stop), daemon=True
            )
            for login, pw in people["desk"]
        ]
        threads += [
            threading.Thread(
                target=probe, args=(port, stats, people["probe_token"], stop), daemon=True
            )
            for _ in range(2)
        ]
        route = report_route(event_id)
        threads.append(
            threading.Thread(
                target=director, args=(port, stats, route, args.report_every, stop), daemon=True
            )
        )
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        stop.wait(duration / 2)
        backup_under_load(env["CRISIS_DB"], workdir, backup_result)
        stop.wait(max(0.0, duration - (time.perf_counter() - t0)))
        stop.set()
        for t in threads:
            t.join(timeout=130)
        elapsed = time.perf_counter() - t0
    finally:
        stop.set()
        server.stop()

    rows = []
    interactive: list[float] = []
    total = errors = 0
    for kind in sorted(stats.latencies):
        lat = stats.latencies[kind]
        n_err = len(stats.errors[kind])
        total += len(lat)
        errors += n_err
        if not kind.startswith(("director", "reference")):
            interactive += lat
        rows.append(
            [kind, len(lat), n_err, pct(lat, 50), pct(lat, 95), pct(lat, 99), max(lat) * 1000]
        )
    rows.append(
        [
            "interactive (liaison + cell + desk)",
            len(interactive),
            sum(
                len(v)
                for k, v in stats.errors.items()
                if not k.startswith(("director", "reference"))
            ),
            pct(interactive, 50),
            pct(interactive, 95),
            pct(interactive, 99),
            max(interactive, default=0) * 1000,
        ]
    )
    print(
        f"Load: {args.liaisons} liaisons, {args.cell} cell members, {DESKS} desk officers, "
        "1 director, 2 whoami probes; "
        f"{elapsed:.0f} s on 127.0.0.1 (crisis-console serve: 1 gunicorn process, "
        f"{os.environ.get('CRISIS_THREADS', '8')} threads); latencies in ms\n"
    )
    print_table(rows, ["request", "count", "errors", "p50", "p95", "p99", "max"])
    p95 = pct(interactive, 95)
    who95 = pct(stats.latencies["reference: whoami"], 95)
    print(
        f"\nthroughput: {total / elapsed:.1f} requests/s; errors: {errors}; interactive p95:"
        f" {p95:.0f} ms (goal < {INTERACTIVE_GOAL_MS:.0f} ms:"
        f" {'met' if p95 < INTERACTIVE_GOAL_MS and errors == 0 else 'NOT met'})"
    )
    ratio = p95 / who95 if who95 else float("nan")
    ok = errors == 0 and ratio <= INTERACTIVE_GOAL_X_WHOAMI
    print(
        f"\ntarget: load test, 0 errors and interactive p95 / whoami p95: {errors} errors, "
        f"{ratio:.2f} ({p95:.0f} / {who95:.0f} ms; target <= {INTERACTIVE_GOAL_X_WHOAMI:g}):"
        f" {'met' if ok else 'NOT met'}"
    )
    for kind, errs in sorted(stats.errors.items()):
        if errs:
            common = statistics.mode(errs)
            print(f"  {kind}: {len(errs)} error(s), e.g. {common}")

    if backup_result:
        from app import backup

        seq, _, _, _ = backup.check(backup_result["path"])
        restored = backup.restore(backup_result["path"], workdir / "restored.db")
        print(
            f"\nbackup under load: {backup_result['seconds']:.2f} s, audit records"
            f" {backup_result['audit_seq']}; check: chain verifies ({seq} records); restored"
            f" into a scratch database: chain verifies (head {restored.audit_seq})."
        )
    if args.keep:
        print(f"\nkept: {workdir}", file=sys.stderr)
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
