"""`crisis-console report EVENT OUT.pdf`, `log-pdf EVENT OUT.pdf` and `scheduler`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from .. import audit, events, reports, schema
from ..cli import _app, _db, _now, bad_input, main
from ..playbooks import load_playbooks


def _playbooks(app: Any) -> dict[str, Any]:
    found, errors = load_playbooks(app.config["CRISIS_PLAYBOOKS"])
    for error in errors:
        logging.getLogger(__name__).error("playbook refused: %s", error)
    return found


def _event(db: Any, event_id: int) -> events.Event:
    event = events.get_event(db, event_id)
    if event is None:
        bad_input(f"événement {event_id} introuvable.")
    return event


@main.command("report")
@click.argument("event_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--author", default="crisis-console (ligne de commande)", show_default=True)
def report_command(event_id: int, out: Path, author: str) -> None:
    """Generate a situation report now (manual, stored and numbered) and write it to OUT."""
    app = _app()
    db = _db(app)
    schema.migrate(db)
    event = _event(db, event_id)
    try:
        report = reports.generate(
            db,
            _now(app),
            event.id,
            trigger="manual",
            author=author,
            actor="cli",
            playbook=_playbooks(app).get(event.kind),
        )
    except reports.ReportError as exc:
        bad_input(exc.message)
    assert report is not None
    audit.checkpoint(
        db,
        _now(app),
        app.config["CRISIS_CHECKPOINT_KEY"],
        app.config["CRISIS_CHECKPOINT_DIR"],
        f"report:{event.id}:{report.number}",
    )
    pdf = reports.report_pdf(db, report.id)
    assert pdf is not None
    out.write_bytes(pdf)
    click.echo(
        f"Point de situation n°{report.number} de « {event.title} » écrit dans {out} "
        f"({len(pdf)} octets, SHA-256 {report.sha256})."
    )


@main.command("log-pdf")
@click.argument("event_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def log_pdf_command(event_id: int, out: Path) -> None:
    """Write the event's main courante as a printable PDF."""
    app = _app()
    db = _db(app)
    event = _event(db, event_id)
    pdf = reports.log_pdf(db, _now(app), event.id, "crisis-console (ligne de commande)")
    out.write_bytes(pdf)
    click.echo(f"Main courante de « {event.title} » écrite dans {out} ({len(pdf)} octets).")


@main.command("scheduler")
@click.option("--interval", default=30, show_default=True, type=float, help="Seconds.")
@click.option("--once", is_flag=True, help="Run the sweeps once (behind the lock) and exit.")
@click.option("--parent-pid", type=int, hidden=True)
def scheduler_command(interval: float, once: bool, parent_pid: int | None) -> None:
    """Run the scheduler: due reports, grant expiry, drill injects, audit checkpoints."""
    from ..scheduler import Scheduler, Settings

    app = _app()
    schema.migrate(_db(app))
    settings = Settings(
        checkpoint_key=app.config["CRISIS_CHECKPOINT_KEY"],
        checkpoint_dir=app.config["CRISIS_CHECKPOINT_DIR"],
        playbooks=_playbooks(app),
    )
    sched = Scheduler(
        app.config["CRISIS_DB"],
        app.config["CLOCK"],
        settings,
        interval_s=interval,
        parent_pid=parent_pid,
    )
    if once:
        result = sched.tick()
        sched.shutdown()
        if result is None:
            click.echo("Un autre planificateur tient le verrou : rien fait.")
            return
        made = result.results.get("reports") or []
        click.echo(f"{len(made)} point(s) de situation produit(s).")
        for name, exc in result.errors.items():
            click.echo(f"Échec de la tâche {name} : {exc}", err=True)
        if result.errors:
            raise SystemExit(1)
        return
    click.echo(f"Planificateur démarré ({sched.holder}), toutes les {interval:g} s.")
    sched.run_forever()
