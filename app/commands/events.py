"""`crisis-console playbooks check [DIR]`: validate the playbooks (exit 2 if any is broken)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import access, fr
from .. import playbooks as library
from .context import Console, pass_console


@click.group()
def playbooks() -> None:
    """Risk playbooks (YAML)."""


@playbooks.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 on a warning too (a dataset that no agreement in force opens).",
)
@pass_console
def check(console: Console, directory: Path | None, strict: bool) -> None:
    """Check every playbook of DIRECTORY (default: CRISIS_PLAYBOOKS); print OK or the error.

    Also warns when a playbook names a restricted dataset that no agreement in force opens for
    its event kind (the cell could not open it): exit 0, or 1 with --strict.
    """
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
    warnings = _unopened(console, found)
    click.echo(
        f"{fr.count(len(found), 'guide valide', 'guides valides')},"
        f" {fr.count(len(errors), 'erreur', 'erreurs')},"
        f" {fr.count(len(warnings), 'avertissement', 'avertissements')}."
    )
    if errors or not found:
        sys.exit(2)
    if warnings and strict:
        sys.exit(1)


def _unopened(console: Console, found: dict[str, library.Playbook]) -> list[str]:
    """Warn for each restricted dataset a playbook lists that no agreement in force opens for
    its event kind (checked against the database's agreements; skipped without one)."""
    if not console.initialised():
        click.echo("(conventions non vérifiées : base non initialisée)")
        return []
    by_id = {pb.id: pb for pb in found.values()}
    pairs = access.unopened_datasets(
        console.db, console.now(), [(pb.id, pb.datasets) for pb in by_id.values()]
    )
    out = []
    for kind, slug in pairs:
        name = Path(by_id[kind].source_file).name
        text = (
            f"ATTENTION {name} : « {slug} » est à ouvrir pour « {kind} » mais aucune convention"
            " en vigueur ne l'ouvre pour ce type d'événement (clé datasets)"
        )
        click.echo(text)
        out.append(text)
    return out


COMMANDS: tuple[click.Command, ...] = (playbooks,)
