"""`crisis-console playbooks check [DIR]`: validate the playbooks (exit 2 if any is broken)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import fr
from .. import playbooks as library
from .context import Console, pass_console


@click.group()
def playbooks() -> None:
    """Risk playbooks (YAML)."""


@playbooks.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@pass_console
def check(console: Console, directory: Path | None) -> None:
    """Check every playbook of DIRECTORY (default: CRISIS_PLAYBOOKS); print OK or the error."""
    folder = directory or Path(console.settings["PLAYBOOKS"])
    known = library.library.known_for(console.settings)
    found, errors = library.load_playbooks(folder, known_datasets=set(known) if known else None)
    failed = {Path(e.file).name for e in errors}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        if path.name not in failed:
            pb = next((p for p in found.values() if Path(p.source_file).name == path.name), None)
            click.echo(f"OK      {path.name}" + (f" ({pb.id})" if pb else ""))
    for error in errors:
        click.echo(f"ERREUR  {error}")
    if known is None:
        click.echo("(jeux de données non vérifiés : ni catalogue.yaml ni base chargée)")
    click.echo(
        f"{fr.count(len(found), 'guide valide', 'guides valides')},"
        f" {fr.count(len(errors), 'erreur', 'erreurs')}."
    )
    if errors or not found:
        sys.exit(2)


COMMANDS: tuple[click.Command, ...] = (playbooks,)
