"""`crisis-console contacts import FILE.csv` and `contacts list`: the crisis directory."""

from __future__ import annotations

from pathlib import Path

import click

from ..pcs import contacts
from .context import Console, bad_input, pass_console


@click.group("contacts")
def contacts_group() -> None:
    """The crisis directory (annuaire de crise)."""


@contacts_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--actor", default="cli", show_default=True, help="Who imports (audit log).")
@pass_console
def import_contacts(console: Console, file: Path, actor: str) -> None:
    """Import FILE.csv (columns nom,organisation,fonction,telephone,email[,astreinte]).

    Every line is checked first: a bad number, a bad e-mail or a duplicate is named with its
    line and nothing is written (exit 2). A line matching a contact (same name, organisation
    and function) updates it.
    """
    if not file.exists():
        bad_input(f"{file} : fichier introuvable.")
    try:
        result = contacts.import_csv(console.db, console.now(), file, actor=actor)
    except contacts.ContactImportError as exc:
        bad_input(f"import refusé, rien n'a été écrit :\n{exc.message}")
    click.echo(result.message())


@contacts_group.command("list")
@pass_console
def list_contacts(console: Console) -> None:
    """List the directory: function, name, organisation (no number: see the console)."""
    for c in contacts.all_contacts(console.db):
        click.echo(f"{c.function:<24} {c.name:<40} {c.organisation}")


COMMANDS: tuple[click.Command, ...] = (contacts_group,)
