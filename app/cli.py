"""The `crisis-console` command: a thin layer over the domain modules.

Exit codes: 0 ok, 1 a failure found (e.g. a broken audit chain), 2 bad usage or bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask

from . import auth, create_app, schema
from .db import connect


def _app() -> Flask:
    return create_app()


def _db(app: Flask) -> Any:
    return connect(app.config["CRISIS_DB"])


def _now(app: Flask) -> Any:
    return app.config["CLOCK"].now()


def bad_input(message: str) -> NoReturn:
    """Print a clear message and exit 2."""
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(2)


class Group(click.Group):
    """Map domain errors to exit code 2 with their message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except auth.AuthError as exc:
            bad_input(str(exc))


@click.group(cls=Group)
@click.version_option(package_name="crisis-console")
def main() -> None:
    """Console de crise — Caux Seine Agglomération."""


@main.command()
def init() -> None:
    """Create or upgrade the database (idempotent)."""
    app = _app()
    db = _db(app)
    applied = schema.migrate(db)
    click.echo(
        f"Base {app.config['CRISIS_DB']} : "
        + (f"{len(applied)} migration(s) appliquée(s)." if applied else "à jour.")
    )


@main.command()
@click.option("--quiet", is_flag=True, help="Do not print the accounts.")
def demo(quiet: bool) -> None:
    """Load the demo territory, organisations and accounts (idempotent)."""
    from . import demo as demo_module

    app = _app()
    db = _db(app)
    schema.migrate(db)
    data_dir = Path(app.config["CRISIS_DATA"])
    accounts = demo_module.load_accounts(db, _now(app), data_dir)
    counts = demo_module.load_territory(db, _now(app), data_dir)
    click.echo(f"Territoire : {len(counts)} jeux de données, {sum(counts.values())} entités.")
    agreements = demo_module.load_agreements(db, _now(app))
    click.echo(f"Conventions de démonstration signées : {agreements}.")
    if not quiet:
        print_accounts(accounts)


def print_accounts(accounts: list[Any]) -> None:
    click.echo("\nComptes de démonstration (démo uniquement) :")
    click.echo(f"  {'identifiant':<16} {'mot de passe':<28} rôles")
    for acc in accounts:
        click.echo(f"  {acc.login:<16} {acc.password:<28} {', '.join(acc.roles)}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the console with gunicorn (one process, threads)."""
    from .server import run_gunicorn

    app = _app()
    schema.migrate(_db(app))
    if str(app.config["CRISIS_SCHEDULER"]) == "1":  # its own process, behind the lock
        from .scheduler import spawn_process

        spawn_process()
    run_gunicorn(app, host, port, threads=int(app.config["CRISIS_THREADS"]))


@main.group()
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
def user_add(login: str, name: str, org: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Create a user."""
    app = _app()
    db = _db(app)
    schema.migrate(db)
    created = auth.add_user(
        db,
        _now(app),
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
def user_passwd(login: str, password_stdin: bool) -> None:
    """Change a password (ends every session of the user)."""
    app = _app()
    auth.set_password(_db(app), _now(app), login, _read_password(password_stdin), actor="cli")
    click.echo(f"Mot de passe de {login} changé ; ses sessions sont fermées.")


@user.command("disable")
@click.argument("login")
@click.option("--enable", is_flag=True, help="Re-enable instead.")
def user_disable(login: str, enable: bool) -> None:
    """Disable a user (ends every session and token at once)."""
    app = _app()
    auth.set_disabled(_db(app), _now(app), login, not enable, actor="cli")
    click.echo(f"Utilisateur {login} {'réactivé' if enable else 'désactivé'}.")


@user.command("end-sessions")
@click.argument("login", required=False)
def user_end_sessions(login: str | None) -> None:
    """End every session of LOGIN, or of every user (after a compromise or a key rotation)."""
    app = _app()
    ended = auth.end_all_sessions(_db(app), _now(app), login, actor="cli")
    who = login or "tous les utilisateurs"
    click.echo(f"{ended} session(s) fermée(s) ({who}).")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("login")
@click.option("--name", default="api", show_default=True)
def token_create(login: str, name: str) -> None:
    """Issue a Bearer token for /api/v1/ (printed once)."""
    app = _app()
    click.echo(auth.create_token(_db(app), _now(app), login, name, actor="cli"))


# Each area's commands live in app/commands/<area>.py and attach themselves to `main`.
COMMAND_MODULES: tuple[str, ...] = ("catalogue", "events", "access", "ops", "drills", "reports")


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"app.commands.{name}")


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
