"""`crisis-console addresses import FILE.csv` and `addresses search TEXT`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import addresses, fr, imports
from .catalogue import ProgressLine
from .context import Console, pass_console


@click.group("addresses")
def addresses_group() -> None:
    """Addresses (Base Adresse Nationale), searched offline."""


@addresses_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--actor", default="cli", show_default=True, help="Who imports (audit log).")
@pass_console
def import_command(console: Console, file: Path, actor: str) -> None:
    """Import a BAN CSV (adresses-<dep>.csv): the communes it covers are replaced."""
    line = ProgressLine(f"Vérification de {file.name}")
    try:
        result = addresses.import_ban(console.db, console.now(), file, actor=actor, progress=line)
    except imports.ImportFailed as exc:
        line.finish()
        click.echo(f"Import refusé, rien n'a été écrit :\n{exc}", err=True)
        sys.exit(2)
    line.finish()
    skipped = (
        f", {fr.count(result.skipped, 'hors du territoire ignorée', 'hors du territoire ignorées')}"
        if result.skipped
        else ""
    )
    click.echo(
        f"Adresses : {fr.count(result.addresses, 'importée', 'importées')} pour"
        f" {fr.count(result.communes, 'commune', 'communes')}"
        f" ({fr.count(result.removed, 'remplacée', 'remplacées')}{skipped})."
    )


@addresses_group.command("search")
@click.argument("text")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 50))
@pass_console
def search_command(console: Console, text: str, limit: int) -> None:
    """Search the local address table ("12 rue …, Lillebonne")."""
    for a in addresses.search(console.db, text, limit):
        click.echo(f"{a.lon:.6f} {a.lat:.6f}  {a.label}  [{a.source}]")


COMMANDS: tuple[click.Command, ...] = (addresses_group,)
