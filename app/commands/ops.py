"""`crisis-console init`, `demo`, `serve`, `backup PATH` and `restore PATH`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import audit, fr, messages, schema
from .. import backup as backup_module
from .. import demo as demo_module
from .context import Console, bad_input, pass_console


@click.command()
@pass_console
def init(console: Console) -> None:
    """Create or upgrade the database (idempotent)."""
    applied = schema.migrate(console.create_db())
    click.echo(
        f"Base {console.db_path} : "
        + (
            f"{fr.count(len(applied), 'migration appliquée', 'migrations appliquées')}."
            if applied
            else "à jour."
        )
    )


@click.command()
@click.option("--quiet", is_flag=True, help="Do not print the accounts.")
@pass_console
def demo(console: Console, quiet: bool) -> None:
    """Load the demo territory, organisations and accounts (idempotent)."""
    db = console.db
    schema.migrate(db)
    data_dir = Path(console.settings["DATA"])
    accounts = demo_module.load_accounts(db, console.now(), data_dir)
    counts = demo_module.load_territory(db, console.now(), data_dir)
    datasets = fr.count(len(counts), "jeu de données", "jeux de données")
    click.echo(f"Territoire : {datasets}, {fr.count(sum(counts.values()), 'entité', 'entités')}.")
    agreements = demo_module.load_agreements(db, console.now())
    click.echo(f"Conventions de démonstration signées : {agreements}.")
    people, things = demo_module.load_pcs(db, console.now(), data_dir)
    click.echo(
        f"Annuaire de crise : {fr.count(people, 'contact', 'contacts')} ;"
        f" registre des moyens : {fr.count(things, 'moyen', 'moyens')}."
    )
    partners = messages.demo_partners(db, console.now())
    click.echo(
        f"Annuaire des partenaires (fictifs) : {fr.count(len(partners), 'entrée', 'entrées')}."
    )
    if not quiet:
        click.echo("\nComptes de démonstration (démo uniquement) :")
        click.echo(f"  {'identifiant':<16} {'mot de passe':<28} rôles")
        for acc in accounts:
            click.echo(f"  {acc.login:<16} {acc.password:<28} {', '.join(acc.roles)}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@pass_console
def serve(console: Console, host: str, port: int) -> None:
    """Serve the console with gunicorn (one process, threads)."""
    from .. import create_app  # the only command that builds the web app
    from ..scheduler import spawn_process
    from ..server import run_gunicorn
    from ..web.geoindex import warm

    schema.migrate(console.db)  # an initialised database only: upgrade it
    console.close()
    app = create_app()
    if str(console.settings["SCHEDULER"]) == "1":  # its own process, behind the lock
        spawn_process()
    run_gunicorn(
        app,
        host,
        port,
        threads=int(console.settings["THREADS"]),
        on_worker_start=lambda: warm(app),  # the spatial index, built in the background
    )


@click.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="When PATH is a directory: keep only the N newest backups in it.",
)
@pass_console
def backup_command(console: Console, path: Path, keep: int | None) -> None:
    """Write an online, consistent backup of the database to PATH (a file or a directory).

    A directory (existing, ending with "/", or with --keep) gets a time-stamped file name.
    """
    console.require_initialised()
    if keep:
        path.mkdir(parents=True, exist_ok=True)
    try:
        done = backup_module.backup(console.db_path, path, console.now())
        removed = backup_module.prune(path, keep) if keep and path.is_dir() else []
    except backup_module.BackupError as exc:
        bad_input(str(exc))
    click.echo(
        f"Sauvegarde écrite : {done.path} ({fr.number(done.size / 2**20, 1)} Mo, journal d'audit n°"
        f" {done.audit_seq}, {done.audit_hash[:16]}…)."
    )
    if removed:
        click.echo(
            fr.count(
                len(removed), "ancienne sauvegarde supprimée", "anciennes sauvegardes supprimées"
            )
            + "."
        )


@click.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--check", "check_only", is_flag=True, help="Only check PATH (e.g. a replica); change nothing."
)
@pass_console
def restore_command(console: Console, path: Path, check_only: bool) -> None:
    """Replace the database by the backup PATH, after checking it (stop the console first).

    Refuses (exit 2) a file that is not SQLite, is corrupt, is not a console database or whose
    audit chain, content or append-only triggers do not verify (with --check: exit 1 for those).
    The replaced database is kept as <db>.before-restore-<time>.
    """
    cp_file = console.signer.latest_file()
    cp = None
    if cp_file is not None:
        try:
            cp = audit.Checkpoint.from_file(cp_file)
        except (OSError, ValueError):
            click.echo(f"Attention : point de contrôle illisible ignoré : {cp_file}", err=True)
    try:
        public = console.signer.public_key()
    except ValueError:
        public = None
    if check_only:
        try:
            seq, digest, pending, warnings = backup_module.check(path, cp, public)
        except backup_module.TamperedError as exc:  # a failure found, not bad input
            click.echo(f"Sauvegarde refusée : {exc}", err=True)
            sys.exit(1)
        except backup_module.BackupError as exc:
            bad_input(f"sauvegarde refusée : {exc}")
        for warning in warnings:
            click.echo(f"Attention : {warning}", err=True)
        click.echo(
            f"Sauvegarde saine : {path} ; journal d'audit vérifié, tête n° {seq}"
            f" ({digest[:16]}…)" + (" ; version antérieure (init requis)." if pending else ".")
        )
        return
    try:
        done = backup_module.restore(
            path,
            console.db_path,
            console.now(),
            cp,
            public,
            on_progress=click.echo,
        )
    except backup_module.BackupError as exc:
        bad_input(f"restauration refusée : {exc}")
    for warning in done.warnings:
        click.echo(f"Attention : {warning}", err=True)
    click.echo(
        f"Base restaurée : {done.db_path} ; journal d'audit vérifié, tête n° {done.audit_seq}"
        f" ({done.audit_hash[:16]}…)."
    )
    if done.pending_migrations:
        click.echo("Sauvegarde d'une version antérieure : lancez `crisis-console init`.")
    click.echo("Redémarrez la console (systemctl restart crisis-console crisis-console-scheduler).")


COMMANDS: tuple[click.Command, ...] = (init, demo, serve, backup_command, restore_command)
