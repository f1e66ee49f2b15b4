"""The per-user inbox: what waits for whom, its deadlines, and a fingerprint that moves only when
what is shown moves."""

from __future__ import annotations

from datetime import timedelta

from app import access, auth, inbox
from tests.conftest import T0
from tests.unit.test_access_support import JUSTIFICATION, build_world, sign_gas, user


def ask(db, login, event_id, minutes=60):
    return access.request_grant(
        db,
        T0,
        user(db, login),
        event_id,
        "gas-network",
        reason_code="intervention_reseau",
        justification=JUSTIFICATION,
        duration_min=minutes,
    )


def kinds(db, login, now=T0):
    return [(i.kind, i.ref) for i in inbox.inbox_for(db, now, user(db, login)).items]


def test_a_pending_request_waits_for_the_other_directors_with_its_deadline(db):
    world = build_world(db, T0)
    sign_gas(db, T0, approval="second_person", roles=["cell", "director"])
    g = ask(db, "cell", world.event_id)
    box = inbox.inbox_for(db, T0, user(db, "director"))
    (item,) = box.items
    assert item.kind == "approval" and item.ref == g.id and item.until == g.pending_until
    assert "demande « Jeu gas-network »" in item.title and JUSTIFICATION in item.detail
    assert item.event_id == world.event_id and not item.is_drill
    assert kinds(db, "director2") == [("approval", g.id)]
    assert kinds(db, "cell") == [("my_request", g.id)]
    assert kinds(db, "liaison") == [] and kinds(db, "admin") == []
    before = box.fingerprint
    assert inbox.inbox_for(db, T0 + timedelta(minutes=1), user(db, "director")).fingerprint == (
        before
    )  # the clock alone changes nothing shown
    access.approve_grant(db, T0, user(db, "director2"), g.id)
    after = inbox.inbox_for(db, T0, user(db, "director"))
    assert after.count == 0 and after.fingerprint != before
    # Once timed out, a request waits for nobody.
    g2 = ask(db, "director", world.event_id)
    assert kinds(db, "director2") == [("approval", g2.id)]
    assert kinds(db, "director2", T0 + access.PENDING_TTL + timedelta(seconds=1)) == []


def test_a_grant_about_to_expire_shows_in_the_last_ten_minutes(db):
    world = build_world(db, T0)
    sign_gas(db, T0)
    g = ask(db, "liaison", world.event_id, minutes=30)
    assert kinds(db, "liaison", T0 + timedelta(minutes=19)) == []
    (item,) = inbox.inbox_for(db, T0 + timedelta(minutes=20), user(db, "liaison")).items
    assert item.kind == "expiring" and item.until == g.expires_at and item.key == "gas-network"
    assert kinds(db, "liaison", T0 + timedelta(minutes=30)) == []  # over: nothing to do


def test_stewards_see_their_unread_notifications_only(db):
    world = build_world(db, T0)
    sign_gas(db, T0)
    ask(db, "liaison", world.event_id)  # no approval: the owner is notified
    (item,) = inbox.inbox_for(db, T0, user(db, "steward")).items
    assert item.kind == "notification" and "Bris de glace" in item.title
    assert kinds(db, "steward-ccas") == []
    access.mark_read(db, T0, user(db, "steward"), item.ref)
    assert kinds(db, "steward") == []


def test_account_requests_wait_for_directors_and_the_user_sees_their_pending_role(db):
    lea = auth.add_user(
        db,
        T0,
        "lea",
        name="Léa",
        org_slug="prefecture-76",
        roles=["liaison"],
        password="une phrase de passe solide",
        actor="admin",
        four_eyes=True,
    )
    (req,) = auth.list_requests(db)
    assert kinds(db, "director") == [("account", req.id)]
    assert kinds(db, "admin") == []
    mine = inbox.inbox_for(db, T0, lea)
    assert mine.count == 0 and mine.pending_roles == ("liaison",)
    assert mine.to_json()["pending_roles"] == ["liaison"]


def test_real_events_come_before_drills_and_urgent_kinds_first(db):
    world = build_world(db, T0)
    sign_gas(db, T0, approval="second_person", roles=["cell", "director"], drills_allowed=True)
    drill = ask(db, "cell", world.drill_id)
    real = ask(db, "director2", world.event_id)
    assert kinds(db, "director") == [("approval", real.id), ("approval", drill.id)]
    box = inbox.inbox_for(db, T0, user(db, "director"))
    assert [i.ref for i in box.real] == [real.id] and [i.ref for i in box.drills] == [drill.id]
    assert box.counts["approval"] == 2 and box.to_json()["count"] == 2
