"""A state machine over request / approve / deny / revoke / advance clock / read / close / sweep.

Invariants: no read after expiry or revocation (a read succeeds exactly when a simple model says
a grant is live), every read has an access record, the chain verifies.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from app import access, audit, demo, schema
from app.clock import parse_iso
from app.db import connect, scalar
from tests.conftest import PROJECT, T0
from tests.unit.test_access_support import (
    JUSTIFICATION,
    build_world,
    close_event,
    sign_gas,
    user,
)

_TEMPLATE: list[sqlite3.Connection] = []


def fresh_db():
    """A copy of a template built once: schema, demo accounts, the small world, agreements."""
    if not _TEMPLATE:
        db = connect(":memory:")
        schema.migrate(db)
        demo.load_accounts(db, T0, PROJECT / "data")
        build_world(db, T0)
        sign_gas(db, T0, roles=["liaison", "cell"], max_duration_min=60)
        sign_gas(db, T0, roles=["director"], approval="second_person", max_duration_min=90)
        _TEMPLATE.append(db.conn)
    db = connect(":memory:")
    _TEMPLATE[0].backup(db.conn)
    return db


HOLDERS = ("liaison", "cell", "director")
ACTORS = ("liaison", "cell", "director", "director2", "steward", "steward-ccas")


class BreakGlass(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.db = fresh_db()
        self.now = T0
        self.event_id = scalar(self.db, "SELECT min(id) FROM events WHERE is_drill = 0")
        self.event_open = True
        self.model: dict[int, dict] = {}
        self.reads = 0
        self.users = {login: user(self.db, login) for login in ACTORS + ("admin",)}

    def teardown(self):
        if hasattr(self, "db"):
            self.db.conn.close()

    # --- the model ------------------------------------------------------------------------
    def live(self, g: dict) -> bool:
        if not self.event_open:
            return False
        if g["status"] == "active":
            return g["expires"] > self.now
        if g["status"] == "pending":
            return self.now < g["pending_until"]
        return False

    def readable(self, login: str) -> bool:
        return any(
            g["user"] == login and g["status"] == "active" and self.live(g)
            for g in self.model.values()
        )

    def pick(self, i: int) -> int | None:
        ids = sorted(self.model)
        return ids[i % len(ids)] if ids else None

    # --- rules ----------------------------------------------------------------------------
    @rule(login=st.sampled_from(HOLDERS), minutes=st.integers(1, 200))
    def request(self, login, minutes):
        try:
            g = access.request_grant(
                self.db,
                self.now,
                self.users[login],
                self.event_id,
                "gas-network",
                reason_code="intervention_reseau",
                justification=JUSTIFICATION,
                duration_min=minutes,
            )
        except access.AccessError:
            assert not self.event_open or any(
                g["user"] == login and self.live(g) for g in self.model.values()
            )
            return
        assert self.event_open
        self.model[g.id] = {
            "user": login,
            "status": g.status,
            "expires": parse_iso(g.expires_at) if g.expires_at else None,
            "pending_until": parse_iso(g.pending_until) if g.pending_until else None,
            "duration": minutes,
        }
        if g.status == "active":
            assert g.expires_at and parse_iso(g.expires_at) <= self.now + timedelta(minutes=60)

    @rule(i=st.integers(0, 50), approver=st.sampled_from(("director", "director2", "cell")))
    def approve(self, i, approver):
        gid = self.pick(i)
        if gid is None:
            return
        g = self.model[gid]
        expected = (
            g["status"] == "pending"
            and self.live(g)
            and approver != "cell"
            and approver != g["user"]
        )
        try:
            out = access.approve_grant(self.db, self.now, self.users[approver], gid)
        except access.AccessError:
            assert not expected
            if g["status"] == "pending" and not self.live(g) and approver not in ("cell",):
                if approver != g["user"]:
                    g["status"] = "expired" if self.event_open else "revoked"
            return
        assert expected
        g["status"] = "active"
        g["expires"] = parse_iso(out.expires_at)
        assert g["expires"] <= self.now + timedelta(minutes=min(90, g["duration"]))

    @rule(i=st.integers(0, 50), approver=st.sampled_from(("director", "director2")))
    def deny(self, i, approver):
        gid = self.pick(i)
        if gid is None:
            return
        g = self.model[gid]
        expected = g["status"] == "pending" and self.live(g) and approver != g["user"]
        try:
            access.deny_grant(self.db, self.now, self.users[approver], gid, "pas utile")
        except access.AccessError:
            assert not expected
            return
        assert expected
        g["status"] = "denied"

    @rule(i=st.integers(0, 50), actor=st.sampled_from(ACTORS + ("holder",)))
    def revoke(self, i, actor):
        gid = self.pick(i)
        if gid is None:
            return
        g = self.model[gid]
        login = g["user"] if actor == "holder" else actor
        allowed = login == g["user"] or login in ("director", "director2", "steward")
        expected = allowed and self.live(g)
        try:
            access.revoke_grant(self.db, self.now, self.users[login], gid)
        except access.AccessError:
            assert not expected
            return
        assert expected
        g["status"] = "revoked"

    @rule(seconds=st.sampled_from((1, 59, 600, 1800, 3600, 5400)))
    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)

    @rule(login=st.sampled_from(HOLDERS + ("admin",)), purpose=st.sampled_from(access.PURPOSES))
    def read(self, login, purpose):
        expected = login != "admin" and self.readable(login)
        try:
            features, grant = access.read_features(
                self.db,
                self.now,
                self.users[login],
                self.event_id,
                "gas-network",
                purpose,
                f"r{self.reads}",
            )
        except access.AccessDenied:
            assert not expected, "a live grant was refused"
            return
        assert expected, "a read after expiry or revocation"
        assert self.model[grant.id]["status"] == "active"
        assert self.model[grant.id]["expires"] > self.now
        self.reads += 1

    @rule()
    def sweep(self):
        access.sweep(self.db, self.now)
        for g in self.model.values():
            if g["status"] in ("active", "pending") and not self.live(g):
                g["status"] = "expired" if self.event_open else "revoked"

    @rule()
    def close(self):
        if self.event_open:
            close_event(self.db, self.now, self.event_id)
            self.event_open = False
            for g in self.model.values():
                if g["status"] in ("active", "pending"):
                    g["status"] = "revoked"

    # --- invariants -----------------------------------------------------------------------
    @invariant()
    def every_read_has_an_access_record(self):
        if not hasattr(self, "db"):
            return
        records = [
            json.loads(r["details"])
            for r in self.db.query("SELECT details FROM audit_log WHERE action = 'data.read'")
        ]
        assert len(records) == self.reads
        assert all(r["grant"] in self.model for r in records)

    @invariant()
    def the_chain_verifies(self):
        if hasattr(self, "db"):
            assert audit.verify(self.db).ok

    @invariant()
    def final_states_stay_final(self):
        if not hasattr(self, "db"):
            return
        for r in self.db.query("SELECT id, status FROM grants"):
            if self.model[r["id"]]["status"] in access.FINAL:
                assert r["status"] in access.FINAL


BreakGlass.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBreakGlass = BreakGlass.TestCase
