"""Four eyes on accounts: roles that can hold grants, given by the administration, wait for a
director (not the admin who asked, not the account itself); so does a director's new password.
The operator's CLI gives roles at once, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import access, audit, auth
from app.db import rows, scalar
from tests.conftest import T0
from tests.unit.test_access_support import JUSTIFICATION, build_world, sign_gas, user

PASSWORD = "une phrase de passe solide"


def create(db, login="lea", roles=("liaison",), actor="admin", four_eyes=True, **kw):
    return auth.add_user(
        db,
        T0,
        login,
        name=kw.pop("name", "Léa Martin"),
        org_slug=kw.pop("org", "prefecture-76"),
        roles=list(roles),
        password=PASSWORD,
        actor=actor,
        four_eyes=four_eyes,
    )


def actions(db, login):
    return [
        r["action"]
        for r in rows(db, "SELECT action FROM audit_log WHERE object_id = ? ORDER BY seq", [login])
    ]


def ask_gas(db, login, event_id):
    return access.request_grant(
        db,
        T0,
        user(db, login),
        event_id,
        "gas-network",
        reason_code="intervention_reseau",
        justification=JUSTIFICATION,
        duration_min=30,
    )


def test_an_admin_created_liaison_opens_no_grant_until_a_director_confirms(db):
    world = build_world(db, T0)
    sign_gas(db, T0)  # liaison and cell may open the gas network, no approval
    lea = create(db)
    assert lea.roles == frozenset()
    assert auth.pending_roles(db, lea.id) == ["liaison"]
    with pytest.raises(access.AccessDenied):
        ask_gas(db, "lea", world.event_id)
    (req,) = auth.requests_to_confirm(db, user(db, "director"))
    assert req.kind == "role" and req.role == "liaison" and req.requested_by == "admin"
    # Nobody but another director: not the admin, not a steward, not the account itself.
    for who in ("admin", "steward", "cell"):
        with pytest.raises(auth.AuthError) as info:
            auth.confirm_request(db, T0, user(db, who), req.id)
        assert info.value.status == 403
    confirmed = auth.confirm_request(db, T0, user(db, "director"), req.id)
    assert confirmed.status == "confirmed" and confirmed.decided_by == "director"
    assert user(db, "lea").roles == frozenset({"liaison"})
    assert ask_gas(db, "lea", world.event_id).status == "active"
    assert actions(db, "lea") == [
        "user.created",
        "user.role_requested",
        "user.role_confirmed",
    ]
    with pytest.raises(auth.AuthError) as info:
        auth.confirm_request(db, T0, user(db, "director2"), req.id)
    assert info.value.status == 409
    assert audit.verify(db).ok


def test_only_grant_holding_roles_wait(db):
    created = create(db, "gerard", roles=("steward", "cell"), org="grdf")
    assert created.roles == frozenset({"steward"})
    assert auth.pending_roles(db, created.id) == ["cell"]
    details = scalar(
        db,
        "SELECT details FROM audit_log WHERE action = 'user.created' AND object_id = 'gerard'",
    )
    assert '"pending_roles":["cell"]' in details.replace(" ", "")


def test_the_cli_gives_roles_at_once_and_is_audited(db):
    created = create(db, "op", roles=("director",), actor="cli", four_eyes=False)
    assert created.roles == frozenset({"director"})
    assert auth.list_requests(db) == []
    r = rows(db, "SELECT actor, details FROM audit_log WHERE action = 'user.created'")[-1]
    assert r["actor"] == "cli" and '"via":"cli"' in r["details"].replace(" ", "")


def test_a_director_who_is_also_admin_cannot_confirm(db):
    create(db, "lea")
    auth.add_role(db, T0, "director2", "admin", actor="cli")
    (req,) = auth.list_requests(db)
    assert auth.requests_to_confirm(db, user(db, "director2")) == []
    with pytest.raises(auth.AuthError):
        auth.confirm_request(db, T0, user(db, "director2"), req.id)


def test_a_director_cannot_confirm_a_request_about_themselves(db):
    auth.add_role(db, T0, "director", "exercise", actor="admin", four_eyes=True)
    (req,) = auth.list_requests(db)
    with pytest.raises(auth.AuthError, match="vous concerne"):
        auth.confirm_request(db, T0, user(db, "director"), req.id)
    auth.confirm_request(db, T0, user(db, "director2"), req.id)
    assert "exercise" in user(db, "director").roles


def test_refusing_needs_a_reason_and_changes_nothing(db):
    lea = create(db)
    (req,) = auth.list_requests(db)
    for blank in ("", " . ", "ok"):
        with pytest.raises(auth.AuthError, match="Motif"):
            auth.refuse_request(db, T0, user(db, "director"), req.id, blank)
    refused = auth.refuse_request(db, T0, user(db, "director"), req.id, "Personne inconnue")
    assert refused.status == "refused" and refused.reason == "Personne inconnue"
    assert user(db, "lea").roles == frozenset() and auth.pending_roles(db, lea.id) == []
    assert actions(db, "lea")[-1] == "user.role_refused"


def test_admin_may_withdraw_a_request_and_add_a_role_again(db):
    create(db)
    (req,) = auth.list_requests(db)
    with pytest.raises(auth.AuthError, match="attend déjà"):
        auth.add_role(db, T0, "lea", "liaison", actor="admin", four_eyes=True)
    assert auth.cancel_request(db, T0, "admin", req.id).status == "cancelled"
    again = auth.add_role(db, T0, "lea", "liaison", actor="admin", four_eyes=True)
    assert again is not None and again.status == "pending"


def test_removing_a_role_is_at_once_and_ends_sessions(db):
    cell = user(db, "cell")
    auth.remove_role(db, T0, "cell", "cell", actor="admin")
    after = user(db, "cell")
    assert after.roles == frozenset() and after.session_version == cell.session_version + 1
    assert actions(db, "cell")[-1] == "user.role_removed"
    with pytest.raises(auth.AuthError):
        auth.remove_role(db, T0, "admin", "admin", actor="admin")


def test_a_directors_new_password_waits_for_another_director(db):
    director = user(db, "director")
    pending = auth.set_password(db, T0, "director", "nouvelle phrase longue", "admin", True)
    assert pending is not None and pending.kind == "password"
    # Nothing changed yet: the old password works, the new one does not, sessions live.
    assert auth.authenticate(db, T0, "director", "director-caux-seine", "t").id == director.id
    with pytest.raises(auth.AuthError):
        auth.authenticate(db, T0, "director", "nouvelle phrase longue", "t")
    assert user(db, "director").session_version == director.session_version
    stored = scalar(db, "SELECT password_hash FROM account_requests WHERE id = ?", [pending.id])
    assert stored and "nouvelle" not in stored  # a hash, never the password
    with pytest.raises(auth.AuthError):
        auth.confirm_request(db, T0, director, pending.id)  # not about oneself
    later = T0 + timedelta(minutes=3)
    auth.confirm_request(db, later, user(db, "director2"), pending.id)
    assert auth.authenticate(db, later, "director", "nouvelle phrase longue", "t")
    assert user(db, "director").session_version == director.session_version + 1
    assert (
        scalar(db, "SELECT password_hash FROM account_requests WHERE id = ?", [pending.id]) is None
    )
    assert actions(db, "director")[-2:] == [
        "user.password_reset_requested",
        "user.password_reset_confirmed",
    ]


def test_a_second_reset_replaces_the_first_and_others_change_at_once(db):
    first = auth.set_password(db, T0, "director", "premiere phrase longue", "admin", True)
    second = auth.set_password(db, T0, "director", "seconde phrase longue", "admin", True)
    assert auth.get_request(db, first.id).status == "cancelled"
    assert [r.id for r in auth.list_requests(db)] == [second.id]
    assert auth.set_password(db, T0, "cell", "phrase longue de cell", "admin", True) is None
    assert auth.authenticate(db, T0, "cell", "phrase longue de cell", "t")


def test_the_organisation_has_no_silent_default(db):
    with pytest.raises(auth.AuthError, match="organisation"):
        create(db, org="")


def test_a_disabled_account_gets_nothing_confirmed(db):
    create(db)
    (req,) = auth.list_requests(db)
    auth.set_disabled(db, T0, "lea", True, actor="admin")
    with pytest.raises(auth.AuthError, match="désactivé"):
        auth.confirm_request(db, T0, user(db, "director"), req.id)
    assert auth.get_request(db, req.id).status == "pending"
