"""`crisis-console audit verify|checkpoint|head` and `crisis-console access sweep`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import access, audit, fr
from ..db import scalar
from .context import Console, bad_input, pass_console


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A signed checkpoint file to check the log against (default: the newest one in"
    " CRISIS_CHECKPOINT_DIR, if any).",
)
@pass_console
def audit_verify(console: Console, checkpoint_file: Path | None) -> None:
    """Recompute the chain and the signatures: exit 0 intact, 1 naming the first bad record."""
    if checkpoint_file is None:
        checkpoint_file = console.signer.latest_file()
    cp = None
    if checkpoint_file is not None:
        try:
            cp = audit.Checkpoint.from_file(checkpoint_file)
        except (OSError, ValueError) as exc:
            bad_input(f"point de contrôle illisible {checkpoint_file} : {exc}")
    result = audit.verify(console.db, cp, console.signer.public_key())
    if cp is not None:
        click.echo(f"Point de contrôle : {checkpoint_file} (n° {cp.seq}, {cp.signed_at}).")
    if result.ok:
        click.echo("\n".join(result.lines()))
        return
    click.echo("\n".join(result.lines()), err=True)
    sys.exit(1)


@audit_group.command("checkpoint")
@click.option("--reason", default="manual", show_default=True)
@pass_console
def audit_checkpoint(console: Console, reason: str) -> None:
    """Sign the current head (Ed25519) and write the checkpoint file; give it at once to the
    data owners concerned (steward inbox, and e-mail when a relay is configured)."""
    from ..messages import SmtpRelay, mail_checkpoints

    cp, path = console.signer.sign(console.db, console.now(), reason)
    click.echo(f"Point de contrôle n° {cp.seq} ({cp.hash}) écrit dans {path}.")
    given = access.deliver_to_owners(console.db, console.now(), console.signer)
    try:
        relay = SmtpRelay.from_settings(console.settings)
    except ValueError as exc:
        bad_input(str(exc))
    mailed = mail_checkpoints(console.db, console.now(), relay)
    for d in given:
        name = scalar(console.db, "SELECT name FROM organisations WHERE id = ?", [d.org_id])
        sent = [m for m in mailed if m.delivery_id == d.id]
        mails = (
            f", {fr.count(len(sent), 'courriel', 'courriels')} :"
            f" {', '.join(f'{m.email} ({m.result})' for m in sent)}"
            if sent
            else ""
        )
        click.echo(f"Remis à {name} (boîte de réception de ses gestionnaires{mails}).")


@audit_group.command("head")
@pass_console
def audit_head(console: Console) -> None:
    """Print the head: sequence number and hash."""
    seq, digest = audit.head(console.db)
    click.echo(f"{seq} {digest}")


@click.group("access")
def access_group() -> None:
    """Break-glass grants."""


@access_group.command("sweep")
@pass_console
def access_sweep(console: Console) -> None:
    """Tidy grant states (expired, timed-out requests); idempotent, never decides access."""
    n = access.sweep(console.db, console.now())
    click.echo(f"{fr.integer(n)} accès mis à jour.")  # accès: the same in the plural


COMMANDS: tuple[click.Command, ...] = (audit_group, access_group)
