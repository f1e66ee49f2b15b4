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
