"""`crisis-console backup PATH` and `crisis-console restore PATH`."""

from __future__ import annotations

from pathlib import Path

import click

from .. import audit
from .. import backup as backup_module
from ..cli import _app, bad_input, main


@main.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="When PATH is a directory: keep only the N newest backups in it.",
)
def backup_command(path: Path, keep: int | None) -> None:
    """Write an online, consistent backup of the database to PATH (a file or a directory).

    A directory (existing, ending with "/", or with --keep) gets a time-stamped file name.
    """
    app = _app()
    if keep:
        path.mkdir(parents=True, exist_ok=True)
    try:
        done = backup_module.backup(app.config["CRISIS_DB"], path, app.config["CLOCK"].now())
        removed = backup_module.prune(path, keep) if keep and path.is_dir() else []
    except backup_module.BackupError as exc:
        bad_input(str(exc))
    click.echo(
        f"Sauvegarde écrite : {done.path} ({done.size / 2**20:.1f} Mo, journal d'audit n°"
        f" {done.audit_seq}, {done.audit_hash[:16]}…)."
    )
    if removed:
        click.echo(f"{len(removed)} ancienne(s) sauvegarde(s) supprimée(s).")


@main.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--check", "check_only", is_flag=True, help="Only check PATH (e.g. a replica); change nothing."
)
def restore_command(path: Path, check_only: bool) -> None:
    """Replace the database by the backup PATH, after checking it (stop the console first).

    Refuses (exit 2) a file that is not SQLite, is corrupt, is not a console database or whose
    audit chain does not verify. The replaced database is kept as <db>.before-restore-<time>.
    """
    app = _app()
    cp_file = audit.latest_checkpoint_file(app.config["CRISIS_CHECKPOINT_DIR"])
    cp = None
    if cp_file is not None:
        try:
            cp = audit.Checkpoint.from_file(cp_file)
        except (OSError, ValueError):
            click.echo(f"Attention : point de contrôle illisible ignoré : {cp_file}", err=True)
    try:
        public = audit.trusted_public_key(app.config["CRISIS_CHECKPOINT_KEY"])
    except ValueError:
        public = None
    if check_only:
        try:
            seq, digest, pending, warnings = backup_module.check(path, cp, public)
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
            app.config["CRISIS_DB"],
            app.config["CLOCK"].now(),
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
