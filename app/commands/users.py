"""`crisis-console user add|passwd|disable|end-sessions` and `token create`."""

from __future__ import annotations

import sys

import click

from .. import auth, fr, schema
from .context import Console, pass_console


@click.group()
def user() -> None:
    """Manage users."""


def _read_password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)


@user.command("add")
@click.argument("login")
@click.option("--name", required=True)
@click.option("--org", required=True, help="Organisation slug, e.g. caux-seine.")
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice(sorted(auth.ROLES))
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_console
def user_add(
    console: Console,
    login: str,
    name: str,
    org: str,
    roles: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Create a user."""
    schema.migrate(console.db)
    created = auth.add_user(
        console.db,
        console.now(),
        login,
        name=name,
        org_slug=org,
        roles=list(roles),
        password=_read_password(password_stdin),
        actor="cli",
    )
    click.echo(f"Utilisateur {created.login} créé ({', '.join(sorted(created.roles))}).")


@user.command("passwd")
@click.argument("login")
@click.option("--password-stdin", is_flag=True)
@pass_console
def user_passwd(console: Console, login: str, password_stdin: bool) -> None:
    """Change a password (ends every session of the user)."""
    db = console.db  # an initialised database before asking anything
    password = _read_password(password_stdin)
    auth.set_password(db, console.now(), login, password, actor="cli")
    click.echo(f"Mot de passe de {login} changé ; ses sessions sont fermées.")


@user.command("disable")
@click.argument("login")
@click.option("--enable", is_flag=True, help="Re-enable instead.")
@pass_console
def user_disable(console: Console, login: str, enable: bool) -> None:
    """Disable a user (ends every session and token at once)."""
    auth.set_disabled(console.db, console.now(), login, not enable, actor="cli")
    click.echo(f"Utilisateur {login} {'réactivé' if enable else 'désactivé'}.")


@user.command("end-sessions")
@click.argument("login", required=False)
@pass_console
def user_end_sessions(console: Console, login: str | None) -> None:
    """End every session of LOGIN, or of every user (after a compromise or a key rotation)."""
    ended = auth.end_all_sessions(console.db, console.now(), login, actor="cli")
    who = login or "tous les utilisateurs"
    click.echo(f"{fr.count(ended, 'session fermée', 'sessions fermées')} ({who}).")


@click.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("login")
@click.option("--name", default="api", show_default=True)
@pass_console
def token_create(console: Console, login: str, name: str) -> None:
    """Issue a Bearer token for /api/v1/ (printed once)."""
    click.echo(auth.create_token(console.db, console.now(), login, name, actor="cli"))


COMMANDS: tuple[click.Command, ...] = (user, token)
