"""Users, passwords, sessions, lock-outs, tokens and TOTP, without Flask."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from app import audit, auth, schema
from app.db import connect
from tests.conftest import T0


@pytest.fixture
def db():
    database = connect(":memory:")
    schema.migrate(database)
    auth.ensure_org(database, T0, "caux-seine", "Caux Seine Agglomération")
    yield database
    database.conn.close()


def add(db, login="alice", password="correct horse battery", roles=("cell",)):
    return auth.add_user(
        db, T0, login, name="Alice", org_slug="caux-seine", roles=list(roles), password=password
    )


@pytest.mark.parametrize(
    "password, ok",
    [
        ("short", False),
        ("a" * 7, False),
        ("a" * 8 + "x", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("password", False),
        ("Azerty123", False),
        ("motdepasse", False),
        ("la seine déborde à Caudebec", True),
        ("alice-bob", True),
    ],
)
def test_password_policy(password, ok):
    if ok:
        auth.check_password_policy(password, "someone")
    else:
        with pytest.raises(auth.AuthError):
            auth.check_password_policy(password, "someone")


def test_password_equal_to_login_is_refused():
    with pytest.raises(auth.AuthError):
        auth.check_password_policy("marie.dupont", "marie.dupont")


def test_passwords_are_argon2id_hashes(db):
    add(db)
    stored = db.execute("SELECT password_hash FROM users WHERE login='alice'").fetchone()[0]
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored


def test_add_user_validates_roles_org_and_duplicates(db):
    with pytest.raises(auth.AuthError, match="Rôle inconnu"):
        add(db, roles=("superuser",))
    with pytest.raises(auth.AuthError, match="Organisation inconnue"):
        auth.add_user(
            db,
            T0,
            "bob",
            name="Bob",
            org_slug="nope",
            roles=["cell"],
            password="correct horse battery",
        )
    add(db)
    with pytest.raises(auth.AuthError, match="existe déjà"):
        add(db, login="ALICE")


def test_lockout_per_account_then_unlock_after_expiry(db):
    add(db)
    policy = auth.LockoutPolicy(
        account_failures=3,
        client_failures=100,
        window=timedelta(minutes=15),
        lock=timedelta(minutes=15),
    )
    for _ in range(3):
        with pytest.raises(auth.AuthError) as err:
            auth.authenticate(db, T0, "alice", "wrong password!", "10.0.0.1", policy)
        assert not isinstance(err.value, auth.LockedOut)
    with pytest.raises(auth.LockedOut):
        auth.authenticate(db, T0, "alice", "correct horse battery", "10.0.0.2", policy)
    later = T0 + timedelta(minutes=16)
    assert (
        auth.authenticate(db, later, "alice", "correct horse battery", "10.0.0.2", policy).login
        == "alice"
    )


def test_lockout_per_client_address(db):
    add(db)
    policy = auth.LockoutPolicy(account_failures=100, client_failures=4)
    for i in range(4):
        with pytest.raises(auth.AuthError):
            auth.authenticate(db, T0, f"ghost{i}", "whatever it is", "10.9.9.9", policy)
    with pytest.raises(auth.LockedOut):
        auth.authenticate(db, T0, "alice", "correct horse battery", "10.9.9.9", policy)
    # Another address is not affected.
    assert auth.authenticate(db, T0, "alice", "correct horse battery", "10.1.1.1", policy)


def test_sessions_die_on_signout_password_change_disable_and_timeouts(db):
    user = add(db)
    policy = auth.SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=2))
    t1 = auth.start_session(db, T0, user)
    t2 = auth.start_session(db, T0, user)
    assert t1 != t2
    assert auth.session_user(db, T0, t1, policy).login == "alice"
    auth.end_session(db, T0, t1)
    assert auth.session_user(db, T0, t1, policy) is None
    assert auth.session_user(db, T0, t2, policy) is not None
    auth.set_password(db, T0, "alice", "another good passphrase")
    assert auth.session_user(db, T0, t2, policy) is None
    user = auth.get_user_by_login(db, "alice")
    t3 = auth.start_session(db, T0, user)
    auth.set_disabled(db, T0, "alice", True)
    assert auth.session_user(db, T0, t3, policy) is None
    auth.set_disabled(db, T0, "alice", False)
    user = auth.get_user_by_login(db, "alice")
    t4 = auth.start_session(db, T0, user)
    assert auth.session_user(db, T0 + timedelta(minutes=29), t4, policy) is not None
    assert auth.session_user(db, T0 + timedelta(minutes=58), t4, policy) is not None
    assert auth.session_user(db, T0 + timedelta(minutes=89), t4, policy) is None  # idle
    t5 = auth.start_session(db, T0, user)
    t = T0
    for _ in range(4):  # active every 25 minutes, still cut at the absolute limit
        t += timedelta(minutes=25)
        assert auth.session_user(db, t, t5, policy) is not None
    assert auth.session_user(db, T0 + timedelta(hours=2, minutes=5), t5, policy) is None


def test_api_tokens_revocable_and_hashed(db):
    add(db)
    token = auth.create_token(db, T0, "alice")
    assert auth.token_user(db, T0, token).login == "alice"
    assert (
        db.execute("SELECT count(*) FROM api_tokens WHERE token_hash = ?", [token]).fetchone()[0]
        == 0
    )
    token_id = db.execute("SELECT id FROM api_tokens").fetchone()[0]
    auth.revoke_token(db, T0, token_id, actor="admin")
    assert auth.token_user(db, T0, token) is None
    assert auth.token_user(db, T0, "cc_forged") is None


def test_totp_codes_are_single_use(db):
    user = add(db)
    secret = auth.enrol_totp(db, T0, "alice")
    code = pyotp.TOTP(secret).at(T0)
    assert auth.verify_totp(db, T0, user.id, code) is True
    assert auth.verify_totp(db, T0, user.id, code) is False  # replay
    assert auth.verify_totp(db, T0 + timedelta(seconds=30), user.id, code) is False
    nxt = pyotp.TOTP(secret).at(T0 + timedelta(seconds=30))
    assert auth.verify_totp(db, T0 + timedelta(seconds=30), user.id, nxt) is True
    assert auth.verify_totp(db, T0, user.id, "abcdef") is False


def test_every_admin_action_is_audited(db):
    add(db)
    auth.set_password(db, T0, "alice", "another good passphrase", actor="admin")
    auth.set_disabled(db, T0, "alice", True, actor="admin")
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions[0] == audit.SEALED  # a new database: content kinds covered from the start
    assert actions[1:] == ["org.created", "user.created", "user.password_changed", "user.disabled"]
