"""`crisis-console report EVENT OUT.pdf`, `log-pdf EVENT OUT.pdf` and `scheduler`."""

from __future__ import annotations

from pathlib import Path

import click

from .. import access, events, fr, history, reports, schema
from ..index_cache import index_for
from .context import Console, bad_input, pass_console


def _event(console: Console, event_id: int) -> events.Event:
    event = events.get_event(console.db, event_id)
    if event is None:
        bad_input(f"événement {event_id} introuvable.")
    return event


@click.command("report")
@click.argument("event_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--author", default="crisis-console (ligne de commande)", show_default=True)
@click.option(
    "--at",
    "at",
    default=None,
    metavar="MOMENT",
    help="Rebuild the report as the situation stood at MOMENT (ISO 8601; Paris time when no "
    "offset is given, e.g. 2026-11-29T14:10): a « reconstitué » report, counts only.",
)
@pass_console
def report_command(console: Console, event_id: int, out: Path, author: str, at: str | None) -> None:
    """Generate a situation report now (manual, stored and numbered) and write it to OUT;
    with --at, the report as the situation stood at that moment (as the web's history page)."""
    db = console.db
    schema.migrate(db)
    event = _event(console, event_id)
    playbook = console.library.playbook(event.kind)
    past = None
    if at is not None:
        try:
            moment = history.parse_at(at, event, console.now())
        except history.HistoryError as exc:
            bad_input(f"--at : {exc.message}")
        past = history.situation_at(db, event, moment, playbook)
    report = reports.issue(
        db,
        console.now(),
        event,
        console.signer,
        trigger="manual",
        author=author,
        actor="cli",
        playbook=playbook,
        index=index_for(db),
        past=past,
    )
    assert report is not None
    pdf = reports.report_pdf(db, report.id)
    assert pdf is not None
    out.write_bytes(pdf)
    kind = f" ({report.trigger_label})" if report.as_at else ""
    click.echo(
        f"Point de situation n°{report.number}{kind} de « {event.title} » écrit dans {out} "
        f"({fr.count(len(pdf), 'octet', 'octets')}, SHA-256 {report.sha256})."
    )


@click.command("log-pdf")
@click.argument("event_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@pass_console
def log_pdf_command(console: Console, event_id: int, out: Path) -> None:
    """Write the event's main courante as a printable PDF."""
    event = _event(console, event_id)
    pdf = reports.log_pdf(console.db, console.now(), event, "crisis-console (ligne de commande)")
    out.write_bytes(pdf)
    size = fr.count(len(pdf), "octet", "octets")
    click.echo(f"Main courante de « {event.title} » écrite dans {out} ({size}).")


@click.command("scheduler")
@click.option("--interval", default=30, show_default=True, type=float, help="Seconds.")
@click.option("--once", is_flag=True, help="Run the sweeps once (behind the lock) and exit.")
@click.option("--parent-pid", type=int, hidden=True)
@pass_console
def scheduler_command(
    console: Console, interval: float, once: bool, parent_pid: int | None
) -> None:
    """Run the scheduler: due reports, grant expiry, drill injects, message retries, checkpoints."""
    from ..messages import SmtpRelay
    from ..scheduler import Scheduler, Settings

    schema.migrate(console.db)
    try:
        smtp = SmtpRelay.from_settings(console.settings)
    except ValueError as exc:
        bad_input(str(exc))
    settings = Settings(
        signer=console.signer,
        library=console.library,
        remote_credentials=console.settings["REMOTE_CREDENTIALS"],
        smtp=smtp,
        reminders=access.ReminderPolicy.from_settings(console.settings),
    )
    console.close()  # each run opens its own connection
    sched = Scheduler(
        console.db_path, console.clock, settings, interval_s=interval, parent_pid=parent_pid
    )
    if once:
        result = sched.tick()
        sched.shutdown()
        if result is None:
            click.echo("Un autre planificateur tient le verrou : rien fait.")
            return
        made = result.results.get("reports") or []
        click.echo(
            fr.count(len(made), "point de situation produit", "points de situation produits") + "."
        )
        for outcome in result.results.get("remote_sync") or []:
            click.echo(
                f"Copie de « {outcome.slug} » synchronisée"
                f" ({fr.count(outcome.features, 'entité', 'entités')})."
                if outcome.ok
                else f"Synchronisation de « {outcome.slug} » en échec : {outcome.error}"
            )
        for name, exc in result.errors.items():
            click.echo(f"Échec de la tâche {name} : {exc}", err=True)
        if result.errors:
            raise SystemExit(1)
        return
    click.echo(f"Planificateur démarré ({sched.holder}), toutes les {interval:g} s.")
    sched.run_forever()


COMMANDS: tuple[click.Command, ...] = (report_command, log_pdf_command, scheduler_command)
