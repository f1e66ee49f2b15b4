"""Cross-area behaviour: what one area's action does to another's state."""

from __future__ import annotations

from pathlib import Path

from app import access, audit
from tests.unit.test_access_support import build_world, sign_gas, user


def test_closing_an_event_revokes_its_grants_and_signs_a_checkpoint(app, client, db, clock):
    world = build_world(db, clock.now())
    sign_gas(db, clock.now())
    grant = access.request_grant(
        db,
        clock.now(),
        user(db, "liaison"),
        world.event_id,
        "gas-network",
        reason_code="intervention_reseau",
        justification="Vérifier les conduites de gaz dans la zone de confinement.",
        duration_min=60,
    )
    assert grant.status == "active"
    client.login("director")
    r = client.post(f"/events/{world.event_id}/close", data={"statement": "Fin de l'alerte."})
    assert r.status_code == 302
    status = db.execute("SELECT status, end_reason FROM grants WHERE id = ?", [grant.id]).fetchone()
    assert tuple(status) == ("revoked", "event_closed")
    closed = db.execute(
        "SELECT details FROM audit_log WHERE action = 'event.closed' AND event_id = ?",
        [world.event_id],
    ).fetchone()[0]
    assert '"grants_revoked":1' in closed.replace(" ", "")
    files = list(Path(app.config["CRISIS_CHECKPOINT_DIR"]).glob("*"))
    assert files, "no checkpoint written at close"
    assert audit.verify(db).ok


def test_map_draws_granted_features_only_for_the_holder_and_records_the_read(territory_app):
    from app.db import connect
    from tests.builders import declare_with_grant

    db = connect(territory_app.config["CRISIS_DB"])
    event_id = declare_with_grant(territory_app.test_client)
    holder = territory_app.test_client()
    holder.login("liaison")
    data = holder.get(f"/api/v1/events/{event_id}/map-features").get_json()
    opened = {o["dataset"]: o for o in data["opened"]}
    assert set(opened) == {"gas-network"}
    features = opened["gas-network"]["features"]["features"]
    assert features, "the grant opens the gas network inside the zone"
    grant = access.list_grants(db, event_id=event_id)[0]
    allowed = set(grant.fields) | {"id"}
    assert all(set(f["properties"]) <= allowed for f in features)
    assert "gas-network" not in {r["dataset"] for r in data["restricted"]}
    reads = db.execute(
        "SELECT details FROM audit_log WHERE action = 'data.read' AND event_id = ?", [event_id]
    ).fetchall()
    assert any('"purpose": "map"' in r[0] or '"purpose":"map"' in r[0] for r in reads)
    other = territory_app.test_client()
    other.login("cell")
    theirs = other.get(f"/api/v1/events/{event_id}/map-features").get_json()
    assert theirs["opened"] == []
    assert "gas-network" in {r["dataset"] for r in theirs["restricted"]}


def test_restricted_export_of_a_drill_is_marked_exercice(app, client, db, clock):
    world = build_world(db, clock.now())
    sign_gas(db, clock.now(), drills_allowed=True)
    for event_id, marked in ((world.drill_id, True), (world.event_id, False)):
        access.request_grant(
            db,
            clock.now(),
            user(db, "liaison"),
            event_id,
            "gas-network",
            reason_code="intervention_reseau",
            justification="Vérifier les conduites de gaz dans la zone de l'exercice.",
            duration_min=30,
        )
        client.login("liaison")
        data = client.get(f"/api/v1/events/{event_id}/datasets/gas-network/features").get_json()
        assert data["classification"] == "DIFFUSION RESTREINTE"
        assert data["drill"] is marked
        assert data["marking"] == ("EXERCICE" if marked else None)
