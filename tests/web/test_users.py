"""Users from the CLI and the admin pages; API tokens."""

from __future__ import annotations


def test_cli_user_add_then_web_sign_in(app, client, runner):
    result = runner(
        "user",
        "add",
        "marie",
        "--name",
        "Marie Dupont",
        "--org",
        "caux-seine",
        "--role",
        "cell",
        "--role",
        "liaison",
        "--password-stdin",
        input="une phrase de passe solide\n",
    )
    assert result.exit_code == 0, result.output
    client.login("marie", "une phrase de passe solide")
    who = client.get("/api/v1/whoami").get_json()
    assert who["roles"] == ["cell", "liaison"]


def test_cli_user_add_bad_input_exits_2(runner):
    result = runner(
        "user",
        "add",
        "x y",
        "--name",
        "X",
        "--org",
        "caux-seine",
        "--role",
        "cell",
        "--password-stdin",
        input="une phrase de passe solide\n",
    )
    assert result.exit_code == 2 and "Identifiant invalide" in result.output
    result = runner(
        "user",
        "add",
        "bob",
        "--name",
        "Bob",
        "--org",
        "caux-seine",
        "--role",
        "cell",
        "--password-stdin",
        input="password\n",
    )
    assert result.exit_code == 2 and "trop courant" in result.output
    result = runner(
        "user",
        "add",
        "bob",
        "--name",
        "Bob",
        "--org",
        "nowhere",
        "--role",
        "cell",
        "--password-stdin",
        input="une phrase de passe solide\n",
    )
    assert result.exit_code == 2 and "Organisation inconnue" in result.output


def test_cli_passwd_kills_sessions(app, client, runner):
    client.login("cell")
    result = runner("user", "passwd", "cell", "--password-stdin", input="nouvelle phrase longue\n")
    assert result.exit_code == 0
    assert client.get("/").status_code == 302
    client.login("cell", "nouvelle phrase longue")


def test_token_reads_whoami(app, runner):
    result = runner("token", "create", "liaison")
    assert result.exit_code == 0
    token = result.output.strip()
    api = app.test_client()
    r = api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.get_json() == {
        "login": "liaison",
        "name": "Sophie Bernard (démo)",
        "roles": ["liaison"],
        "organisation": {"slug": "prefecture-76", "name": "Préfecture de la Seine-Maritime"},
        "server_time": "2026-11-23T13:00:00Z",
    }  # no CSRF token for a Bearer client: it needs none
    assert api.get("/api/v1/whoami", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.get("/api/v1/whoami").status_code == 401
    runner("user", "disable", "liaison")
    r = api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_admin_creates_a_user_and_errors_are_shown(client):
    client.login("admin")
    r = client.post(
        "/admin/users",
        data={
            "login": "paul",
            "name": "Paul",
            "org": "caux-seine",
            "roles": ["cell"],
            "password": "123456789",
        },
    )
    assert r.status_code == 422 and "trop courant" in r.get_data(as_text=True)
    r = client.post(
        "/admin/users",
        data={
            "login": "paul",
            "name": "Paul",
            "org": "caux-seine",
            "roles": ["cell"],
            "password": "vraie phrase de passe",
        },
    )
    assert r.status_code == 302
    assert "paul" in client.get("/admin/users").get_data(as_text=True)


def test_admin_disables_a_user_but_not_itself_and_confirms_first(app, client):
    from tests.conftest import Client

    cell: Client = app.test_client()
    cell.login("cell")
    client.login("admin")
    assert client.post("/admin/users/admin/disable").status_code == 422
    assert client.post("/admin/users/nobody/disable").status_code == 404
    page = client.get("/admin/users/cell/disable")
    assert page.status_code == 200 and "Désactiver le compte cell ?" in page.get_data(as_text=True)
    # Without the confirmation, the same question again and nothing done.
    again = client.post("/admin/users/cell/disable", data={"disabled": "1"})
    assert again.status_code == 200 and "Oui, désactiver" in again.get_data(as_text=True)
    assert cell.get("/").status_code == 200
    done = client.post("/admin/users/cell/disable", data={"disabled": "1", "confirmed": "1"})
    assert done.status_code == 302
    assert "Compte cell désactivé" in client.get("/admin/users").get_data(as_text=True)
    assert cell.get("/").status_code == 302


def test_each_demo_account_sees_only_its_menus(app):
    from tests.conftest import Client

    expected_admin_only = "Administration"
    for login in ("director", "cell", "liaison", "steward", "exercise", "admin"):
        c: Client = app.test_client()
        c.login(login)
        html = c.get("/").get_data(as_text=True)
        assert (expected_admin_only in html) == (login == "admin"), login


def test_cli_ends_every_session(app, runner):
    from tests.conftest import Client

    a: Client = app.test_client()
    a.login("cell")
    b: Client = app.test_client()
    b.login("liaison")
    result = runner("user", "end-sessions", "cell")
    assert result.exit_code == 0 and "1 session" in result.output
    assert a.get("/").status_code == 302 and b.get("/").status_code == 200
    result = runner("user", "end-sessions")
    assert result.exit_code == 0
    assert b.get("/").status_code == 302
    assert runner("user", "end-sessions", "nobody").exit_code == 2


def test_the_operators_cli_gives_grant_roles_at_once_and_is_audited(app, runner):
    """Whoever runs the CLI holds the machine: no four eyes there, but every step audited."""
    import json

    from app.db import connect, rows

    result = runner(
        "user",
        "add",
        "lea",
        "--name",
        "Léa Martin",
        "--org",
        "prefecture-76",
        "--role",
        "liaison",
        "--password-stdin",
        input="une phrase de passe solide\n",
    )
    assert result.exit_code == 0 and "liaison" in result.output
    assert runner("token", "create", "lea").exit_code == 0
    db = connect(app.config["CRISIS_DB"])
    try:
        found = rows(
            db,
            "SELECT action, actor, details FROM audit_log WHERE action IN"
            " ('user.created', 'token.created') ORDER BY seq DESC LIMIT 2",
        )
        assert [(r["action"], r["actor"]) for r in reversed(found)] == [
            ("user.created", "cli"),
            ("token.created", "cli"),
        ]
        created = json.loads(found[1]["details"])
        assert created["roles"] == ["liaison"] and created["via"] == "cli"
        assert "pending_roles" not in created
        assert rows(db, "SELECT * FROM account_requests") == []
    finally:
        db.conn.close()


def test_end_sessions_also_ends_api_tokens_and_tokens_are_listed_and_revoked(app, runner):
    """Guards item 10: `user end-sessions LOGIN`, documented for a compromise, left the user's
    API tokens valid on the main of before; `token list` and `token revoke` did not exist."""
    api = app.test_client()
    first = runner("token", "create", "cell", "--name", "tableur").output.strip()
    other = runner("token", "create", "liaison").output.strip()
    bearer = {"Authorization": f"Bearer {first}"}
    assert api.get("/api/v1/whoami", headers=bearer).status_code == 200
    result = runner("user", "end-sessions", "cell")
    assert result.exit_code == 0 and "1 jeton d'API révoqué" in result.output
    assert api.get("/api/v1/whoami", headers=bearer).status_code == 401  # right after
    assert (
        api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    )

    listed = runner("token", "list", "cell")
    assert listed.exit_code == 0 and "tableur" in listed.output and "révoqué le" in listed.output
    assert first not in listed.output  # never the secret
    second = runner("token", "create", "cell").output.strip()
    (line,) = [ln for ln in runner("token", "list", "cell").output.splitlines() if "actif" in ln]
    token_id = line.split()[0]
    assert runner("token", "revoke", token_id).exit_code == 0
    headers = {"Authorization": f"Bearer {second}"}
    assert api.get("/api/v1/whoami", headers=headers).status_code == 401
    assert "déjà révoqué" in runner("token", "revoke", token_id).output
    assert runner("token", "revoke", "9999").exit_code == 2
    assert runner("token", "list", "nobody").exit_code == 2
