"""Break-glass policy: agreements, requests, approvals, expiry, scope, fields, access records."""

from __future__ import annotations

import json
from datetime import timedelta

import pyotp
import pytest

from app import access, audit, auth
from app.clock import iso, parse_iso
from app.db import row, rows
from tests.conftest import T0
from tests.unit.test_access_support import (
    JUSTIFICATION,
    MARKER,
    add_event,
    build_world,
    close_event,
    sign_gas,
    sign_vp,
    user,
)


@pytest.fixture
def world(db):
    return build_world(db, T0)


def ask(db, login, event_id, slug="gas-network", now=T0, duration=60, totp=None, reason="autre"):
    return access.request_grant(
        db,
        now,
        user(db, login),
        event_id,
        slug,
        reason_code=reason,
        justification=JUSTIFICATION,
        duration_min=duration,
        totp=totp,
    )


def code_for(db, login, now):
    secret = row(db, "SELECT totp_secret FROM users WHERE login = ?", [login])["totp_secret"]
    return pyotp.TOTP(secret).at(now)


# --- the table of policy cases -------------------------------------------------------------

CASES = [
    # (id, requester, event kind, drill, dataset, agreement terms, expected)
    ("liaison-allowed", "liaison", "toxic-release", False, "gas", {}, "active"),
    ("cell-allowed", "cell", "gas-pipeline-leak", False, "gas", {}, "active"),
    ("role-not-allowed", "director", "toxic-release", False, "gas", {}, "denied"),
    ("kind-not-allowed", "liaison", "industrial-fire", False, "gas", {}, "denied"),
    ("any-kind", "liaison", "seine-flood", False, "gas", {"event_kinds": ["*"]}, "active"),
    ("drill-refused", "liaison", "toxic-release", True, "gas", {}, "denied"),
    ("drill-allowed", "liaison", "toxic-release", True, "gas", {"drills_allowed": True}, "active"),
    (
        "second-person",
        "cell",
        "toxic-release",
        False,
        "gas",
        {"approval": "second_person"},
        "pending",
    ),
    ("territory", "liaison", "toxic-release", False, "gas", {"scope": "territory"}, "active"),
    (
        "not-yet-valid",
        "liaison",
        "toxic-release",
        False,
        "gas",
        {"valid_from": "2027-01-01"},
        "denied",
    ),
    ("admin-never", "admin", "toxic-release", False, "gas", {"event_kinds": ["*"]}, "denied"),
    ("steward-not-a-holder", "steward", "toxic-release", False, "gas", {}, "denied"),
    ("personal-pending", "cell", "toxic-release", False, "vp", {}, "pending"),
    ("personal-drill", "cell", "toxic-release", True, "vp", {}, "pending"),
    (
        "personal-drill-refused",
        "cell",
        "toxic-release",
        True,
        "vp",
        {"drills_allowed": False},
        "denied",
    ),
    ("personal-liaison", "liaison", "toxic-release", False, "vp", {}, "denied"),
]


@pytest.mark.parametrize(
    "requester,kind,drill,which,terms,expected",
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_policy_table(db, world, requester, kind, drill, which, terms, expected):
    event_id = add_event(db, T0, kind=kind, drill=drill)
    slug = "gas-network" if which == "gas" else "vulnerable-persons"
    (sign_gas if which == "gas" else sign_vp)(db, T0, **terms)
    totp = None
    if which == "vp" or requester == "admin":
        auth.enrol_totp(db, T0, requester)
        totp = code_for(db, requester, T0)
    if expected == "denied":
        with pytest.raises(access.AccessDenied):
            ask(db, requester, event_id, slug, totp=totp)
        assert access.list_grants(db, event_id=event_id) == []
        return
    g = ask(db, requester, event_id, slug, totp=totp)
    assert g.status == expected
    assert (g.expires_at is not None) == (expected == "active")


def test_public_dataset_needs_no_grant(db, world):
    from tests.unit.test_access_support import add_dataset

    add_dataset(db, T0, "roads", "grdf", "public", "LineString", ["id"])
    with pytest.raises(access.AccessError):
        ask(db, "liaison", world.event_id, "roads")


# --- agreements ----------------------------------------------------------------------------


def test_personal_agreement_requires_second_person_and_zone(db, world):
    with pytest.raises(access.AccessError, match="second directeur"):
        sign_vp(db, T0, approval="none")
    with pytest.raises(access.AccessError):
        sign_vp(db, T0, scope="territory")


def test_only_a_steward_of_the_owner_signs(db, world):
    with pytest.raises(access.AccessDenied):
        access.sign_agreement(
            db, T0, user(db, "steward-ccas"), "gas-network", roles=["cell"], event_kinds=["*"]
        )
    with pytest.raises(access.AccessDenied):
        access.sign_agreement(
            db, T0, user(db, "admin"), "gas-network", roles=["cell"], event_kinds=["*"]
        )


def test_admin_is_never_an_allowed_role(db, world):
    with pytest.raises(access.AccessError, match="administrateur"):
        sign_gas(db, T0, roles=["admin"])


def test_unknown_fields_are_refused(db, world):
    with pytest.raises(access.AccessError, match="inconnus"):
        sign_gas(db, T0, fields=["pressure", "owner_phone"])


def test_edit_makes_a_new_version_and_live_grants_keep_theirs(db, world):
    v1 = sign_gas(db, T0)
    g = ask(db, "liaison", world.event_id)
    v2 = access.edit_agreement(db, T0, user(db, "steward"), v1.id, max_duration_min=30)
    assert (v2.key, v2.version, v2.max_duration_min) == (v1.key, 2, 30)
    assert access.get_agreement(db, v1.id).status == "superseded"
    assert access.get_grant(db, g.id).agreement_id == v1.id
    features, _ = access.read_features(
        db, T0, user(db, "liaison"), world.event_id, "gas-network", "view", "r1"
    )
    assert features
    with pytest.raises(access.AccessError):
        access.edit_agreement(db, T0, user(db, "steward"), v1.id, max_duration_min=10)


def test_withdrawing_revokes_every_live_grant_of_the_key(db, world):
    v1 = sign_gas(db, T0)
    g1 = ask(db, "liaison", world.event_id)
    v2 = access.edit_agreement(db, T0, user(db, "steward"), v1.id, max_duration_min=60)
    g2 = ask(db, "cell", world.event_id)
    assert access.get_grant(db, g2.id).agreement_id == v2.id
    n = access.withdraw_agreement(db, T0, user(db, "steward"), v2.id)
    assert n == 2
    for gid in (g1.id, g2.id):
        assert access.get_grant(db, gid).status == "revoked"
    with pytest.raises(access.AccessDenied):
        access.read_features(
            db, T0, user(db, "liaison"), world.event_id, "gas-network", "view", "r"
        )
    with pytest.raises(access.AccessDenied):
        ask(db, "liaison", world.event_id)


# --- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        ".",
        "",
        "   ",
        "urgent",
        "aaaaaaaaaaaaaaaaaaaaaaaaa",
        "!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ". . . . . . . . . . . . . .",
        "abababababababababababab",
    ],
)
def test_a_justification_must_be_a_sentence(db, world, text):
    sign_gas(db, T0)
    with pytest.raises(access.AccessError):
        access.request_grant(
            db,
            T0,
            user(db, "liaison"),
            world.event_id,
            "gas-network",
            reason_code="autre",
            justification=text,
            duration_min=30,
        )


def test_reason_code_from_the_list(db, world):
    sign_gas(db, T0)
    with pytest.raises(access.AccessError, match="Motif"):
        ask(db, "liaison", world.event_id, reason="because")


def test_expiry_is_clamped_to_the_agreement_and_shown(db, world):
    sign_gas(db, T0, max_duration_min=120)
    g = ask(db, "liaison", world.event_id, duration=500)
    assert parse_iso(g.expires_at) == T0 + timedelta(minutes=120)
    assert g.clamped and "120" in g.clamp_reason
    g2 = ask(db, "cell", world.event_id, duration=30)
    assert parse_iso(g2.expires_at) == T0 + timedelta(minutes=30) and not g2.clamped


def test_expiry_is_clamped_to_the_agreement_end(db, world):
    sign_gas(db, T0, valid_to=iso(T0 + timedelta(minutes=45)))
    g = ask(db, "liaison", world.event_id, duration=100)
    assert parse_iso(g.expires_at) == T0 + timedelta(minutes=45) and g.clamped


def test_no_approval_notifies_the_owner_and_flags_for_review(db, world):
    sign_gas(db, T0)
    g = ask(db, "liaison", world.event_id)
    assert g.flagged_for_review
    inbox = access.notifications_for(db, user(db, "steward"))
    assert [n["grant_id"] for n in inbox] == [g.id]
    assert access.notifications_for(db, user(db, "steward-ccas")) == []


def test_closed_event_refuses_requests(db, world):
    sign_gas(db, T0)
    close_event(db, T0, world.event_id)
    with pytest.raises(access.AccessDenied, match="clos"):
        ask(db, "liaison", world.event_id)


def test_refusals_are_audited(db, world):
    with pytest.raises(access.AccessDenied):
        ask(db, "liaison", world.event_id)
    r = row(db, "SELECT * FROM audit_log WHERE action = 'grant.refused'")
    assert r and json.loads(r["details"])["why"] == "no_agreement"


# --- TOTP step-up --------------------------------------------------------------------------


def test_personal_data_needs_enrolment_then_a_fresh_code(db, world):
    sign_vp(db, T0)
    with pytest.raises(access.StepUpRequired) as info:
        ask(db, "cell", world.event_id, "vulnerable-persons")
    assert info.value.enrol
    auth.enrol_totp(db, T0, "cell")
    with pytest.raises(access.StepUpRequired):
        ask(db, "cell", world.event_id, "vulnerable-persons")
    code = code_for(db, "cell", T0)
    g = ask(db, "cell", world.event_id, "vulnerable-persons", totp=code)
    assert g.status == "pending"
    access.deny_grant(db, T0, user(db, "director"), g.id, "pas pour ce test")
    with pytest.raises(access.AccessDenied, match="déjà utilisé"):
        ask(db, "cell", world.event_id, "vulnerable-persons", totp=code)  # replayed


def test_enrolled_users_step_up_for_restricted_data_too(db, world):
    sign_gas(db, T0)
    auth.enrol_totp(db, T0, "liaison")
    with pytest.raises(access.StepUpRequired):
        ask(db, "liaison", world.event_id)
    g = ask(db, "liaison", world.event_id, totp=code_for(db, "liaison", T0))
    assert g.status == "active"


# --- approvals -----------------------------------------------------------------------------


def test_second_person_approval(db, world):
    sign_gas(db, T0, approval="second_person", roles=["director", "cell"])
    g = ask(db, "director", world.event_id)
    assert g.status == "pending"
    with pytest.raises(access.AccessDenied, match="propre demande"):
        access.approve_grant(db, T0, user(db, "director"), g.id)
    with pytest.raises(access.AccessDenied):
        access.approve_grant(db, T0, user(db, "cell"), g.id)
    with pytest.raises(access.AccessDenied):
        access.read_features(
            db, T0, user(db, "director"), world.event_id, "gas-network", "view", "r"
        )
    later = T0 + timedelta(minutes=10)
    approved = access.approve_grant(db, later, user(db, "director2"), g.id)
    assert approved.status == "active" and approved.decided_by_name
    assert parse_iso(approved.expires_at) == later + timedelta(minutes=60)
    features, _ = access.read_features(
        db, later, user(db, "director"), world.event_id, "gas-network", "view", "r"
    )
    assert features
    with pytest.raises(access.AccessError):
        access.deny_grant(db, later, user(db, "director2"), g.id)  # final


def test_pending_requests_expire_on_their_own(db, world):
    sign_gas(db, T0, approval="second_person")
    g = ask(db, "cell", world.event_id)
    later = T0 + access.PENDING_TTL + timedelta(seconds=1)
    assert access.get_grant(db, g.id).effective_status(later) == "expired"
    assert access.pending_for(db, later, user(db, "director")) == []
    with pytest.raises(access.AccessError, match="expiré"):
        access.approve_grant(db, later, user(db, "director"), g.id)
    assert access.get_grant(db, g.id).status == "expired"


def test_denied_is_final(db, world):
    sign_gas(db, T0, approval="second_person")
    g = ask(db, "cell", world.event_id)
    access.deny_grant(db, T0, user(db, "director"), g.id, "pas nécessaire")
    with pytest.raises(access.AccessError):
        access.approve_grant(db, T0, user(db, "director2"), g.id)
    with pytest.raises(access.AccessError):
        access.revoke_grant(db, T0, user(db, "cell"), g.id)


# --- validity at every read ----------------------------------------------------------------


def read(db, login, event_id, now, slug="gas-network", purpose="view"):
    return access.read_features(db, now, user(db, login), event_id, slug, purpose, "req-1")


def test_a_read_one_second_after_expiry_fails_without_any_sweep(db, world):
    sign_gas(db, T0)
    g = ask(db, "liaison", world.event_id, duration=30)
    end = parse_iso(g.expires_at)
    read(db, "liaison", world.event_id, end - timedelta(seconds=1))
    with pytest.raises(access.AccessDenied):
        read(db, "liaison", world.event_id, end)
    with pytest.raises(access.AccessDenied):
        read(db, "liaison", world.event_id, end + timedelta(seconds=1))
    assert access.get_grant(db, g.id).status == "active"  # no sweep ran: still refused
    assert access.sweep(db, end + timedelta(seconds=1)) == 1
    assert access.sweep(db, end + timedelta(seconds=2)) == 0  # idempotent
    assert access.get_grant(db, g.id).status == "expired"


def test_revocation_by_holder_director_or_owner_only(db, world):
    sign_gas(db, T0)
    g = ask(db, "liaison", world.event_id)
    for login in ("cell", "steward-ccas", "admin"):
        with pytest.raises(access.AccessDenied):
            access.revoke_grant(db, T0, user(db, login), g.id)
    access.revoke_grant(db, T0, user(db, "steward"), g.id, "plus nécessaire")
    with pytest.raises(access.AccessDenied):
        read(db, "liaison", world.event_id, T0)
    g2 = ask(db, "liaison", world.event_id)
    access.revoke_grant(db, T0, user(db, "liaison"), g2.id)
    g3 = ask(db, "liaison", world.event_id)
    access.revoke_grant(db, T0, user(db, "director"), g3.id)
    assert {x.status for x in access.list_grants(db, event_id=world.event_id)} == {"revoked"}


def test_closing_the_event_ends_access_even_before_revocation(db, world):
    sign_gas(db, T0)
    ask(db, "liaison", world.event_id)
    close_event(db, T0, world.event_id, revoke=False)
    with pytest.raises(access.AccessDenied):
        read(db, "liaison", world.event_id, T0)
    assert access.revoke_for_event(db, T0, world.event_id, None) == 1
    assert access.revoke_for_event(db, T0, world.event_id, None) == 0


def test_admin_reads_nothing(db, world):
    sign_gas(db, T0, event_kinds=["*"])
    with pytest.raises(access.AccessDenied):
        read(db, "admin", world.event_id, T0)


# --- scope, fields, records ----------------------------------------------------------------


def test_zone_scope_and_field_whitelist(db, world):
    sign_gas(db, T0)
    ask(db, "liaison", world.event_id)
    features, g = read(db, "liaison", world.event_id, T0)
    assert sorted(f["id"] for f in features) == sorted(world.gas_inside)
    for f in features:
        assert set(f["properties"]) <= {"id", "pressure", "diameter_mm", "material"}
        assert "id" in f["properties"]
        assert MARKER not in json.dumps(f)


def test_margin_widens_the_zone_and_territory_takes_all(db, world):
    sign_gas(db, T0, margin_m=10_000, roles=["liaison"])
    sign_gas(db, T0, scope="territory", roles=["cell"])
    ask(db, "liaison", world.event_id)
    ask(db, "cell", world.event_id)
    wide, _ = read(db, "liaison", world.event_id, T0)
    assert {f["id"] for f in wide} >= set(world.gas_inside) | {"DEMO-GAS-OUT-0"}
    everything, _ = read(db, "cell", world.event_id, T0)
    assert len(everything) == len(world.gas_inside) + len(world.gas_outside)


def test_without_stored_zones_a_2km_circle_around_the_event(db, world):
    sign_gas(db, T0)
    event_id = add_event(db, T0, zone=False)
    ask(db, "liaison", event_id)
    features, _ = read(db, "liaison", event_id, T0)
    assert sorted(f["id"] for f in features) == sorted(world.gas_inside)


def test_bbox_narrows_a_read(db, world):
    sign_gas(db, T0)
    ask(db, "liaison", world.event_id)
    features, _ = access.read_features(
        db,
        T0,
        user(db, "liaison"),
        world.event_id,
        "gas-network",
        "map",
        "r",
        bbox=(0.0, 0.0, 0.1, 0.1),
    )
    assert features == []


def test_every_read_writes_an_access_record_with_ids_only(db, world):
    sign_vp(db, T0)
    auth.enrol_totp(db, T0, "cell")
    g = ask(db, "cell", world.event_id, "vulnerable-persons", totp=code_for(db, "cell", T0))
    access.approve_grant(db, T0, user(db, "director"), g.id)
    features, _ = read(db, "cell", world.event_id, T0, "vulnerable-persons", "export")
    assert sorted(f["id"] for f in features) == sorted(world.vp_inside)
    assert "birth_year" not in features[0]["properties"]
    rec = row(db, "SELECT * FROM audit_log WHERE action = 'data.read'")
    details = json.loads(rec["details"])
    assert details["grant"] == g.id and details["purpose"] == "export"
    assert details["count"] == 2 and sorted(details["ids"]) == sorted(world.vp_inside)
    assert details["request_id"] == "req-1" and rec["actor"] == "cell"
    assert "FICTIF" not in rec["details"] and "0600000000" not in rec["details"]
    assert audit.verify(db).ok


def test_no_record_no_data(db, world, monkeypatch):
    sign_gas(db, T0)
    ask(db, "liaison", world.event_id)
    before = audit.head(db)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(RuntimeError):
        read(db, "liaison", world.event_id, T0)
    monkeypatch.undo()
    assert audit.head(db) == before
    assert not db.conn.in_transaction


def test_denied_reads_are_recorded(db, world):
    with pytest.raises(access.AccessDenied):
        read(db, "liaison", world.event_id, T0)
    assert rows(db, "SELECT * FROM audit_log WHERE action = 'data.denied'")


# --- review and demo -----------------------------------------------------------------------


def test_owner_review_lists_grants_and_reads(db, world):
    sign_gas(db, T0)
    g = ask(db, "liaison", world.event_id)
    read(db, "liaison", world.event_id, T0)
    org_id = user(db, "steward").org_id
    rv = access.owner_review(db, T0, org_id, world.event_id)
    assert [x.id for x in rv.grants] == [g.id]
    assert len(rv.reads) == 1 and rv.reads[0]["details"]["count"] == 3
    assert (rv.head_seq, rv.head_hash) == audit.head(db)
    other = access.owner_review(db, T0, user(db, "steward-ccas").org_id, world.event_id)
    assert other.grants == [] and other.reads == []
    assert access.review_pdf(access.readable_review(db, T0, rv)).startswith(b"%PDF")


def test_demo_agreements_are_idempotent(db, world):
    first = access.demo_agreements(db, T0)
    assert {a.dataset_slug for a in first} == {"gas-network", "vulnerable-persons"}
    assert access.demo_agreements(db, T0) == []
    vp = next(a for a in first if a.dataset_slug == "vulnerable-persons")
    assert vp.approval == "second_person" and vp.scope == "zone"


def test_sweep_tidies_every_state(db, world):
    sign_gas(db, T0, roles=["liaison"])
    sign_gas(db, T0, roles=["cell"], approval="second_person")
    a = ask(db, "liaison", world.event_id, duration=10)
    p = ask(db, "cell", world.event_id)
    later = T0 + timedelta(hours=1)
    assert access.sweep(db, later) == 2
    assert access.get_grant(db, a.id).status == "expired"
    assert access.get_grant(db, p.id).status == "expired"
    assert access.get_grant(db, p.id).end_reason == "pending_timeout"
    assert access.sweep(db, later) == 0
