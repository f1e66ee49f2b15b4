"""Four eyes on accounts through the pages: the administration asks, a director confirms."""

from __future__ import annotations

import re

from app import auth
from app.db import connect
from tests.conftest import Client

NEW = {
    "login": "lea",
    "name": "Léa Martin",
    "org": "prefecture-76",
    "roles": ["liaison"],
    "password": "une phrase de passe solide",
}


def request_id(app) -> int:
    db = connect(app.config["CRISIS_DB"])
    try:
        (req,) = auth.list_requests(db)
        return req.id
    finally:
        db.conn.close()


def test_the_user_form_makes_the_organisation_a_choice(client):
    client.login("admin")
    html = client.get("/admin/users").get_data(as_text=True)
    select = re.search(r'<select id="nu-org"[^>]*>(.*?)</select>', html, re.S).group(1)
    first = re.search(r"<option([^>]*)>([^<]*)</option>", select)
    assert 'value=""' in first.group(1) and "selected" in first.group(1)
    r = client.post("/admin/users", data={**NEW, "org": ""})
    assert r.status_code == 422 and "Choisissez l&#39;organisation" in r.get_data(as_text=True)


def test_admin_asks_director_confirms_liaison_then_sees_the_access_page(app, client):
    client.login("admin")
    r = client.post("/admin/users", data=NEW)
    assert r.status_code == 302
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Compte lea créé. En attente de la confirmation d&#39;un directeur" in page
    assert (
        'id="pending-requests"' in page and "Officier de liaison préfecture — à confirmer" in page
    )

    lea: Client = app.test_client()
    lea.login("lea", NEW["password"])
    home = lea.get("/").get_data(as_text=True)
    assert "attend la confirmation d'un directeur" in home
    assert lea.get("/acces").status_code == 403 and lea.get("/events/").status_code == 403

    rid = request_id(app)
    # The admin cannot confirm (the route is a director's), nor can a steward.
    assert client.post(f"/comptes/demandes/{rid}/confirmer").status_code == 403
    director: Client = app.test_client()
    director.login("director")
    home = director.get("/").get_data(as_text=True)
    assert f'id="inbox-account-{rid}"' in home
    r = director.post(f"/comptes/demandes/{rid}/confirmer", data={"next": "/"})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert "Rôle confirmé" in director.get("/").get_data(as_text=True)
    assert lea.get("/acces").status_code == 200


def test_refusal_through_htmx_says_so_and_needs_a_reason(app, client):
    client.login("admin")
    client.post("/admin/users", data=NEW)
    rid = request_id(app)
    director: Client = app.test_client()
    director.login("director")
    hx = {"HX-Request": "true"}
    r = director.post(f"/comptes/demandes/{rid}/refuser", data={"reason": "."}, headers=hx)
    assert r.status_code == 422 and r.headers["HX-Reswap"] == "none"
    assert "Motif du refus obligatoire" in r.headers["HX-Trigger"].encode().decode("unicode_escape")
    r = director.post(f"/comptes/demandes/{rid}/refuser", data={"reason": "Inconnue"}, headers=hx)
    assert r.status_code == 204 and "crisis-flash" in r.headers["HX-Trigger"]
    assert "inbox-changed" in r.headers["HX-Trigger"]
    listing = director.get("/comptes/demandes").get_data(as_text=True)
    assert "refusée — Inconnue" in listing


def test_a_directors_password_reset_waits(app, client):
    client.login("admin")
    r = client.post("/admin/users/director/password", data={"password": "nouvelle phrase longue"})
    assert r.status_code == 302
    assert "un directeur doit le confirmer" in client.get("/admin/users").get_data(as_text=True)
    rid = request_id(app)
    other: Client = app.test_client()
    other.login("director2")
    assert other.post(f"/comptes/demandes/{rid}/confirmer").status_code == 302
    fresh: Client = app.test_client()
    fresh.login("director", "nouvelle phrase longue")


def test_roles_added_and_removed_from_the_admin_page(app, client):
    client.login("admin")
    r = client.post("/admin/users/steward/roles", data={"role": "cell"})
    assert r.status_code == 302
    assert "prendra effet quand un directeur" in client.get("/admin/users").get_data(as_text=True)
    r = client.post("/admin/users/cell/roles/cell/remove")
    assert r.status_code == 302
    db = connect(app.config["CRISIS_DB"])
    try:
        assert auth.get_user_by_login(db, "cell").roles == frozenset()
        assert auth.pending_roles(db, auth.get_user_by_login(db, "steward").id) == ["cell"]
    finally:
        db.conn.close()
    r = client.post("/admin/users/cell/roles", data={"role": "nope"})
    assert r.status_code == 302
    assert "Rôle inconnu" in client.get("/admin/users").get_data(as_text=True)
