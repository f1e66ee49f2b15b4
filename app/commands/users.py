"""`crisis-console user add|passwd|disable|end-sessions` and `token create|list|revoke`."""

from __future__ import annotations

import sys

import click

from .. import auth, fr, schema
from ..clock import local
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
    """End every session and API token of LOGIN, or of every user (after a compromise or a key
    rotation)."""
    ended = auth.end_all_sessions(console.db, console.now(), login, actor="cli")
    who = login or "tous les utilisateurs"
    sessions = fr.count(ended.sessions, "session fermée", "sessions fermées")
    tokens = fr.count(ended.tokens, "jeton d'API révoqué", "jetons d'API révoqués")
    click.echo(f"{sessions}, {tokens} ({who}).")


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


@token.command("list")
@click.argument("login")
@pass_console
def token_list(console: Console, login: str) -> None:
    """List the API tokens of LOGIN (number, name, dates, state); never their secret."""
    found = auth.list_tokens(console.db, login)
    if not found:
        click.echo(f"Aucun jeton d'API pour {login}.")
        return
    click.echo(f"{'n°':>5}  {'nom':<16} {'créé le':<17} {'dernier usage':<17} état")
    for t in found:
        state = "actif" if t.live else f"révoqué le {local(t.revoked_at)}"
        used = local(t.last_used_at) if t.last_used_at else "—"
        click.echo(f"{t.id:>5}  {t.name[:16]:<16} {local(t.created_at):<17} {used:<17} {state}")


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1), metavar="ID")
@pass_console
def token_revoke(console: Console, token_id: int) -> None:
    """Revoke the API token number ID (see `token list`): refused from the next request on."""
    if auth.revoke_token(console.db, console.now(), token_id, actor="cli"):
        click.echo(f"Jeton d'API n° {token_id} révoqué.")
    else:
        click.echo(f"Jeton d'API n° {token_id} déjà révoqué : rien à faire.")


COMMANDS: tuple[click.Command, ...] = (user, token)
