"""The scheduler: due reports by cadence, catch-up after restart, one report per slot across
processes, failures logged and retried, the single-instance lock."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app import audit, auth, events, reports, scheduler
from app.clock import FixedClock, iso
from app.db import connect, rows
from app.playbooks import Playbook, load_playbooks
from tests.conftest import PROJECT


@pytest.fixture(scope="module")
def playbooks() -> dict[str, Playbook]:
    found, _ = load_playbooks(PROJECT / "playbooks")
    return found


def declare(db: Any, clock: FixedClock, playbooks: dict[str, Playbook]) -> events.Event:
    director = auth.get_user_by_login(db, "director")
    assert director is not None
    event = events.declare(
        db,
        clock.now(),
        playbooks["toxic-release"],
        actor=director,
        title="Fuite toxique",
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
        point=[0.548, 49.47],
    )
    assert event.report_cadence_min == 30
    return event


def numbers(db: Any, event_id: int) -> list[tuple[int, str, str | None]]:
    return [
        (r["number"], r["trigger"], r["due_at"])
        for r in rows(
            db,
            "SELECT number, trigger, due_at FROM reports WHERE event_id = ? ORDER BY number",
            [event_id],
        )
    ]


def make(app: Any, clock: FixedClock, **kw: Any) -> scheduler.Scheduler:
    return scheduler.Scheduler(app.config["CRISIS_DB"], clock, **kw)


def test_first_report_at_declaration_then_every_cadence(
    app: Any, db: Any, clock: FixedClock, playbooks: Any
) -> None:
    event = declare(db, clock, playbooks)
    t0 = clock.now()
    s = make(app, clock)
    s.tick()
    assert numbers(db, event.id) == [(1, "schedule", iso(t0))]
    s.tick()  # idempotent
    assert len(numbers(db, event.id)) == 1
    clock.advance(minutes=95)
    result = s.tick()
    assert result is not None and result.ok
    assert numbers(db, event.id)[1:] == [
        (2, "schedule", iso(t0 + timedelta(minutes=30))),
        (3, "schedule", iso(t0 + timedelta(minutes=60))),
        (4, "schedule", iso(t0 + timedelta(minutes=90))),
    ]
    s.tick()
    assert len(numbers(db, event.id)) == 4


def test_catch_up_after_a_restart_produces_each_missed_report_once(
    app: Any, db: Any, clock: FixedClock, playbooks: Any
) -> None:
    event = declare(db, clock, playbooks)
    first = make(app, clock)
    first.tick()
    clock.advance(minutes=40)
    first.tick()
    first.shutdown()  # "restart": a new scheduler object, another holder
    clock.advance(minutes=55)  # t = 95 min
    second = make(app, clock)
    second.tick()
    second.tick()
    assert [n for n, _, _ in numbers(db, event.id)] == [1, 2, 3, 4]


def test_crashed_scheduler_lock_is_taken_over_once_stale(
    app: Any, db: Any, clock: FixedClock, playbooks: Any
) -> None:
    declare(db, clock, playbooks)
    crashed = make(app, clock)
    assert crashed.tick() is not None  # holds the lock, then "crashes" (no release)
    other = make(app, clock)
    assert other.tick() is None  # a live holder: skipped
    clock.advance(seconds=91)
    assert other.tick() is not None
    assert scheduler.lock_holder(db)["holder"] == other.holder  # type: ignore[index]
    assert crashed.tick() is None  # the old one is now refused


def test_manual_reports_take_the_next_number_and_schedule_continues(
    app: Any, db: Any, clock: FixedClock, playbooks: Any
) -> None:
    event = declare(db, clock, playbooks)
    s = make(app, clock)
    s.tick()
    clock.advance(minutes=10)
    reports.generate(db, clock.now(), event, author="Claire Morel")
    clock.advance(minutes=25)  # t = 35
    s.tick()
    assert [(n, t) for n, t, _ in numbers(db, event.id)] == [
        (1, "schedule"),
        (2, "manual"),
        (3, "schedule"),
    ]


def test_cadence_change_does_not_back_fill(
    app: Any, db: Any, clock: FixedClock, playbooks: Any
) -> None:
    event = declare(db, clock, playbooks)
    s = make(app, clock)
    s.tick()  # PS 1 at t=0
    clock.advance(minutes=31)
    s.tick()  # PS 2 (t=30)
    director = auth.get_user_by_login(db, "director")
    reports.set_cadence(db, clock.now(), event.id, 10, actor=director)
    s.tick()  # next slot of the new cadence after 30 is 40: nothing yet
    assert len(numbers(db, event.id)) == 2
    clock.advance(minutes=10)  # t = 41
    s.tick()
    assert numbers(db, event.id)[-1][2] == iso(
        events.parse_iso(event.declared_at) + timedelta(minutes=40)
    )


def test_closed_events_get_no_scheduled_reports(
    app: Any, db: Any, clock: FixedClock, playbooks: Any
) -> None:
    event = declare(db, clock, playbooks)
    director = auth.get_user_by_login(db, "director")
    events.close(db, clock.now(), event.id, "Fin de l'alerte.", actor=director)
    clock.advance(minutes=95)
    make(app, clock).tick()
    assert numbers(db, event.id) == []


def test_two_threads_never_produce_the_same_report(
    app: Any, db: Any, clock: FixedClock, playbooks: Any
) -> None:
    event = declare(db, clock, playbooks)
    clock.advance(minutes=95)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        own = connect(app.config["CRISIS_DB"])
        try:
            barrier.wait()
            scheduler.generate_due_reports(own, clock.now())  # no lock: the guard alone
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.conn.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    found = numbers(db, event.id)
    assert [n for n, _, _ in found] == [1, 2, 3, 4]
    assert len({due for _, _, due in found}) == 4


SCRIPT = """
import sys
from datetime import datetime
sys.path.insert(0, {project!r})
from app import scheduler
from app.clock import FixedClock
from app.db import connect
db = connect({db!r})
made = scheduler.generate_due_reports(db, datetime.fromisoformat({now!r}))
print(len(made))
"""


def test_two_processes_never_produce_the_same_report(
    app: Any, db: Any, clock: FixedClock, playbooks: Any
) -> None:
    event = declare(db, clock, playbooks)
    clock.advance(minutes=95)
    code = SCRIPT.format(
        project=str(PROJECT), db=app.config["CRISIS_DB"], now=clock.now().isoformat()
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    made = [int(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(made) == 4
    found = numbers(db, event.id)
    assert [n for n, _, _ in found] == [1, 2, 3, 4]
    assert len({due for _, _, due in found}) == 4


def test_a_failing_sweep_is_logged_and_retried_without_stopping_others(
    app: Any, db: Any, clock: FixedClock, playbooks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    event = declare(db, clock, playbooks)
    calls = {"n": 0}

    def flaky(db: Any, now: Any, settings: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("base occupée")
        return 0

    sweeps = (("flaky", flaky), ("reports", scheduler.generate_due_reports))
    s = make(app, clock, sweeps=sweeps)
    with caplog.at_level(logging.ERROR, logger="app.scheduler"):
        first = s.tick()
    assert first is not None and "flaky" in first.errors and not first.ok
    assert "sweep flaky failed" in caplog.text and "base occupée" in caplog.text
    assert len(numbers(db, event.id)) == 1  # the reports sweep still ran
    second = s.tick()
    assert second is not None and second.ok and calls["n"] == 2


def test_report_failure_is_retried_next_run(
    app: Any, db: Any, clock: FixedClock, playbooks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = declare(db, clock, playbooks)
    original = reports.render_report

    def broken(ctx: Any) -> bytes:
        raise OSError("disque plein")

    monkeypatch.setattr(reports.store, "render_report", broken)
    s = make(app, clock)
    result = s.tick()
    assert result is not None and "reports" in result.errors
    assert numbers(db, event.id) == []
    monkeypatch.setattr(reports.store, "render_report", original)
    s.tick()
    assert [n for n, _, _ in numbers(db, event.id)] == [1]


def test_sweeps_call_grant_expiry_and_sign_checkpoints(
    app: Any, db: Any, clock: FixedClock, playbooks: Any, tmp_path: Path
) -> None:
    declare(db, clock, playbooks)
    settings = scheduler.Settings(signer=audit.Signer(tmp_path / "k.key", tmp_path / "cp"))
    result = scheduler.run_sweeps(db, clock.now(), settings)
    assert result.ok, result.errors
    assert result.results["expire_grants"] == 0
    assert result.results["checkpoint"] is not None  # head moved: signed
    again = scheduler.run_sweeps(db, clock.now(), settings)
    assert again.results["checkpoint"] is None  # nothing new
    assert len(list((tmp_path / "cp").glob("checkpoint-*.json"))) == 1


def test_apscheduler_wiring_runs_ticks_in_the_background(
    app: Any, db: Any, clock: FixedClock, playbooks: Any
) -> None:
    event = declare(db, clock, playbooks)
    s = make(app, clock, interval_s=0.2)
    s.start()
    try:
        for _ in range(100):
            if s.runs >= 2:
                break
            threading.Event().wait(0.1)
    finally:
        s.shutdown()
    assert s.runs >= 2
    assert [n for n, _, _ in numbers(db, event.id)] == [1]
    assert scheduler.lock_holder(db) is None  # released on shutdown


def test_cli_scheduler_once_and_report(
    runner: Any, app: Any, db: Any, clock: Any, playbooks: Any, tmp_path: Path
) -> None:
    event = declare(db, clock, playbooks)
    result = runner("scheduler", "--once")
    assert result.exit_code == 0, result.output
    out = tmp_path / "ps.pdf"
    result = runner("report", str(event.id), str(out))
    assert result.exit_code == 0, result.output
    assert "Point de situation n°" in result.output and out.read_bytes().startswith(b"%PDF")
    log_out = tmp_path / "mc.pdf"
    assert runner("log-pdf", str(event.id), str(log_out)).exit_code == 0
    assert runner("report", "999", str(out)).exit_code == 2


def test_cli_report_as_at_a_past_moment(
    runner: Any, app: Any, db: Any, clock: Any, playbooks: Any, tmp_path: Path
) -> None:
    """``report --at``: the report rebuilt as the situation stood then (« reconstitué »), the
    same as the web's history page makes; a moment the event cannot show is refused, named."""
    from datetime import timedelta

    from app import reports
    from app.clock import local

    event = declare(db, clock, playbooks)
    declared = clock.now()
    clock.advance(minutes=40)
    moment = declared + timedelta(minutes=10)
    out = tmp_path / "ps-au.pdf"
    result = runner("report", str(event.id), str(out), "--at", local(moment, "%Y-%m-%dT%H:%M"))
    assert result.exit_code == 0, result.output
    assert f"reconstitué au {local(moment)}" in result.output
    assert out.read_bytes().startswith(b"%PDF")
    (stored,) = reports.list_reports(db, event.id)
    assert stored.as_at is not None and stored.trigger_label.startswith("reconstitué au")
    for bad, said in (("hier", "illisible"), ("2001-01-01T10:00", "précède la déclaration")):
        refused = runner("report", str(event.id), str(tmp_path / "x.pdf"), "--at", bad)
        assert refused.exit_code == 2 and "--at" in refused.output and said in refused.output
    assert not (tmp_path / "x.pdf").exists()
    assert len(reports.list_reports(db, event.id)) == 1  # nothing stored for a refusal
