"""`crisis-console audit verify|checkpoint|head` and `crisis-console access sweep`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import access, audit
from ..cli import _app, _db, _now, bad_input, main


@main.group("audit")
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
def audit_verify(checkpoint_file: Path | None) -> None:
    """Recompute the chain and the signatures: exit 0 intact, 1 naming the first bad record."""
    app = _app()
    db = _db(app)
    if checkpoint_file is None:
        checkpoint_file = audit.latest_checkpoint_file(app.config["CRISIS_CHECKPOINT_DIR"])
    cp = None
    if checkpoint_file is not None:
        try:
            cp = audit.Checkpoint.from_file(checkpoint_file)
        except (OSError, ValueError) as exc:
            bad_input(f"point de contrôle illisible {checkpoint_file} : {exc}")
    public = audit.trusted_public_key(app.config["CRISIS_CHECKPOINT_KEY"])
    result = audit.verify(db, cp, public)
    if cp is not None:
        click.echo(f"Point de contrôle : {checkpoint_file} (n° {cp.seq}, {cp.signed_at}).")
    if result.ok:
        click.echo(result.message())
        return
    click.echo(result.message(), err=True)
    sys.exit(1)


@audit_group.command("checkpoint")
@click.option("--reason", default="manual", show_default=True)
def audit_checkpoint(reason: str) -> None:
    """Sign the current head (Ed25519) and write the checkpoint file."""
    app = _app()
    cp, path = audit.checkpoint(
        _db(app),
        _now(app),
        app.config["CRISIS_CHECKPOINT_KEY"],
        app.config["CRISIS_CHECKPOINT_DIR"],
        reason,
    )
    click.echo(f"Point de contrôle n° {cp.seq} ({cp.hash}) écrit dans {path}.")


@audit_group.command("head")
def audit_head() -> None:
    """Print the head: sequence number and hash."""
    app = _app()
    seq, digest = audit.head(_db(app))
    click.echo(f"{seq} {digest}")


@main.group("access")
def access_group() -> None:
    """Break-glass grants."""


@access_group.command("sweep")
def access_sweep() -> None:
    """Tidy grant states (expired, timed-out requests); idempotent, never decides access."""
    app = _app()
    n = access.sweep(_db(app), _now(app))
    click.echo(f"{n} accès mis à jour.")
