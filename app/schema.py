"""The schema: every table, index and trigger, as named migrations. Nothing else issues DDL."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

migrations = Migrations("crisis-console")


def _script(db: sqlite_utils.Database, sql: str) -> None:
    # executescript() would COMMIT the migration's transaction; run statement by statement instead.
    for statement in _split(sql):
        db.execute(statement)


def _split(sql: str) -> list[str]:
    """The statements of a DDL script, cut where SQLite says a statement is complete (a
    trigger's inner semicolons do not end it): ``sqlite3.complete_statement``."""
    out: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip().rstrip(";"))
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return [s for s in out if s]


def _append_only(table: str) -> str:
    return f"""
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN
  SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused');
END;
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
BEGIN
  SELECT RAISE(ABORT, '{table} is append-only: DELETE refused');
END;
"""


@migrations(name="0001_foundation")
def m0001_foundation(db: sqlite_utils.Database) -> None:
    _script(
        db,
        """
CREATE TABLE organisations (
  id INTEGER PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'other',
  created_at TEXT NOT NULL
);
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  login TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  org_id INTEGER NOT NULL REFERENCES organisations(id),
  password_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  session_version INTEGER NOT NULL DEFAULT 1,
  totp_secret TEXT,
  totp_last_step INTEGER,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until TEXT,
  created_at TEXT NOT NULL,
  password_changed_at TEXT NOT NULL
);
CREATE TABLE user_roles (
  user_id INTEGER NOT NULL REFERENCES users(id),
  role TEXT NOT NULL CHECK (role IN ('director','cell','liaison','steward','exercise','admin')),
  PRIMARY KEY (user_id, role)
);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  user_id INTEGER NOT NULL REFERENCES users(id),
  session_version INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  revoked_at TEXT,
  client TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT
);
CREATE TABLE login_failures (
  id INTEGER PRIMARY KEY,
  login TEXT NOT NULL,
  client TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX login_failures_login ON login_failures(login, at);
CREATE INDEX login_failures_client ON login_failures(client, at);
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT,
  action TEXT NOT NULL,
  object_type TEXT,
  object_id TEXT,
  event_id INTEGER,
  details TEXT NOT NULL DEFAULT '{}',
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_log_event ON audit_log(event_id);
CREATE INDEX audit_log_action ON audit_log(action);
CREATE TABLE audit_checkpoints (
  id INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  signed_at TEXT NOT NULL,
  reason TEXT NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL
);
"""
        + _append_only("audit_log")
        + _append_only("audit_checkpoints"),
    )


@migrations(name="0002_catalogue")
def m0002_catalogue(db: sqlite_utils.Database) -> None:
    _script(
        db,
        """
CREATE TABLE datasets (
  id INTEGER PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  owner_org_id INTEGER NOT NULL REFERENCES organisations(id),
  theme TEXT NOT NULL CHECK (theme IN ('industrial','network','population','reference')),
  geometry_type TEXT NOT NULL,
  sensitivity TEXT NOT NULL CHECK (sensitivity IN ('public','restricted','personal')),
  id_field TEXT NOT NULL DEFAULT 'id',
  fields TEXT NOT NULL DEFAULT '[]',
  source TEXT NOT NULL DEFAULT '',
  revision INTEGER NOT NULL DEFAULT 0,
  feature_count INTEGER NOT NULL DEFAULT 0,
  bbox TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE dataset_revisions (
  id INTEGER PRIMARY KEY,
  dataset_id INTEGER NOT NULL REFERENCES datasets(id),
  revision INTEGER NOT NULL,
  at TEXT NOT NULL,
  actor TEXT,
  action TEXT NOT NULL,
  file_name TEXT,
  feature_count INTEGER NOT NULL,
  inserted INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  UNIQUE (dataset_id, revision)
);
CREATE TABLE features (
  id INTEGER PRIMARY KEY,
  dataset_id INTEGER NOT NULL REFERENCES datasets(id),
  fid TEXT NOT NULL,
  geometry TEXT NOT NULL,
  properties TEXT NOT NULL,
  minx REAL NOT NULL, miny REAL NOT NULL, maxx REAL NOT NULL, maxy REAL NOT NULL,
  UNIQUE (dataset_id, fid)
);
"""
        + _append_only("dataset_revisions"),
    )


@migrations(name="0003_events")
def m0003_events(db: sqlite_utils.Database) -> None:
    _script(
        db,
        """
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  title TEXT NOT NULL,
  is_drill INTEGER NOT NULL DEFAULT 0,
  level INTEGER NOT NULL DEFAULT 1,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','closed')),
  declared_by INTEGER NOT NULL REFERENCES users(id),
  declared_at TEXT NOT NULL,
  closed_by INTEGER REFERENCES users(id),
  closed_at TEXT,
  closing_statement TEXT,
  site_fid TEXT,
  lon REAL NOT NULL,
  lat REAL NOT NULL,
  place TEXT NOT NULL DEFAULT '',
  params TEXT NOT NULL DEFAULT '{}',
  report_cadence_min INTEGER NOT NULL DEFAULT 30
);
CREATE TABLE event_zones (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  version INTEGER NOT NULL,
  computed_at TEXT NOT NULL,
  params TEXT NOT NULL,
  geojson TEXT NOT NULL,
  UNIQUE (event_id, version)
);
CREATE TABLE log_entries (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  fact_at TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  author_id INTEGER REFERENCES users(id),
  author_name TEXT NOT NULL,
  category TEXT NOT NULL
    CHECK (category IN ('information','décision','action','message reçu','message émis')),
  text TEXT NOT NULL,
  corrects_id INTEGER REFERENCES log_entries(id),
  is_inject INTEGER NOT NULL DEFAULT 0,
  is_system INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX log_entries_event ON log_entries(event_id, id);
CREATE TABLE checklist_items (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  item_key TEXT NOT NULL,
  position INTEGER NOT NULL,
  title TEXT NOT NULL,
  role TEXT NOT NULL,
  due_at TEXT NOT NULL,
  done_by INTEGER REFERENCES users(id),
  done_at TEXT,
  note TEXT,
  UNIQUE (event_id, item_key)
);
"""
        + _append_only("log_entries"),
    )


@migrations(name="0004_access")
def m0004_access(db: sqlite_utils.Database) -> None:
    _script(
        db,
        """
CREATE TABLE agreements (
  id INTEGER PRIMARY KEY,
  agreement_key TEXT NOT NULL,
  version INTEGER NOT NULL,
  dataset_id INTEGER NOT NULL REFERENCES datasets(id),
  roles TEXT NOT NULL,
  event_kinds TEXT NOT NULL,
  drills_allowed INTEGER NOT NULL DEFAULT 0,
  max_duration_min INTEGER NOT NULL,
  approval TEXT NOT NULL CHECK (approval IN ('none','second_person')),
  scope TEXT NOT NULL CHECK (scope IN ('zone','territory')),
  margin_m REAL NOT NULL DEFAULT 0,
  fields TEXT NOT NULL DEFAULT '[]',
  valid_from TEXT NOT NULL,
  valid_to TEXT,
  signed_by INTEGER NOT NULL REFERENCES users(id),
  signed_at TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','superseded','withdrawn')),
  withdrawn_at TEXT,
  withdrawn_by INTEGER REFERENCES users(id),
  UNIQUE (agreement_key, version)
);
CREATE TABLE grants (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  user_id INTEGER NOT NULL REFERENCES users(id),
  dataset_id INTEGER NOT NULL REFERENCES datasets(id),
  agreement_id INTEGER NOT NULL REFERENCES agreements(id),
  reason_code TEXT NOT NULL,
  justification TEXT NOT NULL,
  duration_min INTEGER NOT NULL,
  requested_at TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending','active','expired','revoked','denied')),
  pending_until TEXT,
  decided_by INTEGER REFERENCES users(id),
  decided_at TEXT,
  activated_at TEXT,
  expires_at TEXT,
  ended_at TEXT,
  ended_by INTEGER REFERENCES users(id),
  end_reason TEXT,
  flagged_for_review INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX grants_event ON grants(event_id);
CREATE INDEX grants_user ON grants(user_id, status);
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY,
  org_id INTEGER NOT NULL REFERENCES organisations(id),
  created_at TEXT NOT NULL,
  kind TEXT NOT NULL,
  grant_id INTEGER REFERENCES grants(id),
  event_id INTEGER REFERENCES events(id),
  text TEXT NOT NULL,
  read_at TEXT,
  read_by INTEGER REFERENCES users(id)
);
""",
    )


@migrations(name="0005_reports_drills")
def m0005_reports_drills(db: sqlite_utils.Database) -> None:
    _script(
        db,
        """
CREATE TABLE reports (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  number INTEGER NOT NULL,
  trigger TEXT NOT NULL CHECK (trigger IN ('schedule','manual')),
  generated_at TEXT NOT NULL,
  due_at TEXT,
  author TEXT NOT NULL,
  pdf BLOB NOT NULL,
  sha256 TEXT NOT NULL,
  audit_seq INTEGER NOT NULL,
  audit_hash TEXT NOT NULL,
  classification TEXT NOT NULL,
  UNIQUE (event_id, number)
);
CREATE TABLE drills (
  event_id INTEGER PRIMARY KEY REFERENCES events(id),
  scenario_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running','paused','ended','stopped')),
  started_at TEXT NOT NULL,
  started_by INTEGER NOT NULL REFERENCES users(id),
  paused_at TEXT,
  paused_seconds INTEGER NOT NULL DEFAULT 0,
  ended_at TEXT,
  went_well TEXT NOT NULL DEFAULT '',
  to_improve TEXT NOT NULL DEFAULT '',
  real_event_id INTEGER REFERENCES events(id)
);
CREATE TABLE drill_injects (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  inject_id TEXT NOT NULL,
  fired_at TEXT NOT NULL,
  fired_by TEXT NOT NULL,
  log_entry_id INTEGER REFERENCES log_entries(id),
  UNIQUE (event_id, inject_id)
);
CREATE TABLE scheduler_lock (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL
);
"""
        + _append_only("reports"),
    )


@migrations(name="0006_drill_acknowledgements")
def m0006_drill_acknowledgements(db: sqlite_utils.Database) -> None:
    # A backup inject that was not needed is recorded as 'skipped' so that it is decided once;
    # a player's "action réalisée" on an inject is stored on its row (and written in the log).
    # Casualty figures received (from injects, later from real messages) are kept per event.
    _script(
        db,
        """
ALTER TABLE drill_injects ADD COLUMN outcome TEXT NOT NULL DEFAULT 'fired'
  CHECK (outcome IN ('fired','skipped'));
ALTER TABLE drill_injects ADD COLUMN acknowledged_at TEXT;
ALTER TABLE drill_injects ADD COLUMN acknowledged_by INTEGER REFERENCES users(id);
ALTER TABLE drill_injects ADD COLUMN ack_log_entry_id INTEGER REFERENCES log_entries(id);
CREATE TABLE casualty_reports (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  at TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  dead INTEGER,
  seriously_injured INTEGER,
  slightly_injured INTEGER,
  involved INTEGER,
  log_entry_id INTEGER REFERENCES log_entries(id)
);
CREATE INDEX casualty_reports_event ON casualty_reports(event_id, id);
""",
    )


@migrations(name="0007_remote_sources")
def m0007_remote_sources(db: sqlite_utils.Database) -> None:
    # A dataset kept by its owner (catalogue ``remote:`` block, app.remote): where it is served
    # (no secret: credentials stay in the CRISIS_REMOTE_CREDENTIALS file) and the state of its
    # synced copy. The copy itself is the dataset's features; a failed sync leaves them alone.
    _script(
        db,
        """
CREATE TABLE remote_sources (
  dataset_id INTEGER PRIMARY KEY REFERENCES datasets(id),
  spec TEXT NOT NULL,
  registered_at TEXT NOT NULL,
  last_attempt_at TEXT,
  last_success_at TEXT,
  last_revision INTEGER,
  last_checksum TEXT,
  last_count INTEGER,
  last_error TEXT,
  last_error_at TEXT,
  failures INTEGER NOT NULL DEFAULT 0,
  next_sync_at TEXT
);
""",
    )


@migrations(name="0008_idempotency_keys")
def m0008_idempotency_keys(db: sqlite_utils.Database) -> None:
    # A tablet that lost its network resends what it queued with the same Idempotency-Key: the
    # key (per user), a fingerprint of what was asked and the object it made answer the resend.
    _script(
        db,
        """
CREATE TABLE idempotency_keys (
  user_id INTEGER NOT NULL REFERENCES users(id),
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (user_id, key)
);
""",
    )


@migrations(name="0009_messages")
def m0009_messages(db: sqlite_utils.Database) -> None:
    # Outgoing messages (issue 17, DESIGN §12). A message's editable text lives on its row while
    # it is a draft; at validation its exact bytes are frozen in ``message_contents`` (append-only)
    # and a final message (émis, annulé) can no longer change. Deliveries and their attempts are
    # append-only: a delivery's state is its latest attempt.
    _script(
        db,
        """
CREATE TABLE partners (
  id INTEGER PRIMARY KEY,
  organisation TEXT NOT NULL,
  role TEXT NOT NULL,
  email TEXT NOT NULL,
  kinds TEXT NOT NULL DEFAULT '["cap","emsi","report"]',
  drill_only INTEGER NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (email, drill_only)
);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  kind TEXT NOT NULL CHECK (kind IN ('cap','emsi','report')),
  template TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'brouillon'
    CHECK (status IN ('brouillon','validé','émis','annulé')),
  is_drill INTEGER NOT NULL,
  subject TEXT NOT NULL,
  fields TEXT NOT NULL DEFAULT '{}',
  recipients TEXT NOT NULL DEFAULT '[]',
  report_id INTEGER REFERENCES reports(id),
  author_id INTEGER NOT NULL REFERENCES users(id),
  editors TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  validated_by INTEGER REFERENCES users(id),
  validated_at TEXT,
  emitted_by INTEGER REFERENCES users(id),
  emitted_at TEXT,
  cancelled_by INTEGER REFERENCES users(id),
  cancelled_at TEXT,
  cancel_reason TEXT
);
CREATE INDEX messages_event ON messages(event_id, id);
CREATE TRIGGER messages_final BEFORE UPDATE ON messages
WHEN OLD.status IN ('émis','annulé')
BEGIN
  SELECT RAISE(ABORT, 'messages: an emitted or cancelled message is final');
END;
CREATE TRIGGER messages_frozen BEFORE UPDATE ON messages
WHEN OLD.status = 'validé' AND (NEW.fields IS NOT OLD.fields OR NEW.subject IS NOT OLD.subject
  OR NEW.recipients IS NOT OLD.recipients OR NEW.kind IS NOT OLD.kind)
BEGIN
  SELECT RAISE(ABORT, 'messages: a validated message cannot be edited');
END;
CREATE TRIGGER messages_no_delete BEFORE DELETE ON messages
BEGIN
  SELECT RAISE(ABORT, 'messages: DELETE refused');
END;
CREATE TABLE message_contents (
  message_id INTEGER PRIMARY KEY REFERENCES messages(id),
  created_at TEXT NOT NULL,
  msg_type TEXT,
  identifier TEXT NOT NULL UNIQUE,
  refs TEXT NOT NULL DEFAULT '[]',
  sent TEXT NOT NULL,
  zones_version INTEGER,
  level INTEGER NOT NULL,
  media_type TEXT NOT NULL,
  filename TEXT NOT NULL,
  body BLOB NOT NULL,
  sha256 TEXT NOT NULL,
  recipients TEXT NOT NULL
);
CREATE TABLE message_deliveries (
  id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  partner_id INTEGER REFERENCES partners(id),
  organisation TEXT NOT NULL,
  role TEXT NOT NULL,
  email TEXT NOT NULL,
  mail_id TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  UNIQUE (message_id, email)
);
CREATE INDEX message_deliveries_message ON message_deliveries(message_id);
CREATE TABLE delivery_attempts (
  id INTEGER PRIMARY KEY,
  delivery_id INTEGER NOT NULL REFERENCES message_deliveries(id),
  at TEXT NOT NULL,
  result TEXT NOT NULL CHECK (result IN ('sent','failed','skipped','abandoned')),
  error TEXT NOT NULL DEFAULT '',
  next_attempt_at TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id, id);
"""
        + _append_only("message_contents")
        + _append_only("message_deliveries")
        + _append_only("delivery_attempts"),
    )


@migrations(name="0010_pcs")
def m0010_pcs(db: sqlite_utils.Database) -> None:
    # Running the response (issue 18, app/pcs): the crisis directory and, per event, the call-out
    # board, the vulnerable-persons call campaign, reception centres (CARE), means and tasks.
    # Every per-event table is an append-only history whose rows are full snapshots of one
    # object's state: the current state is the latest row per object, the state "as at 14:10"
    # the latest row at or before 14:10 (issue 19). The directory and the means register are
    # edited in place (each edit audited).
    _script(
        db,
        """
CREATE TABLE contacts (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  organisation TEXT NOT NULL DEFAULT '',
  function TEXT NOT NULL,
  phones TEXT NOT NULL DEFAULT '[]',
  email TEXT NOT NULL DEFAULT '',
  oncall TEXT NOT NULL DEFAULT '[]',
  source TEXT NOT NULL DEFAULT '',
  key TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  archived_at TEXT
);
CREATE UNIQUE INDEX contacts_key ON contacts(key) WHERE archived_at IS NULL;
CREATE TABLE callout_changes (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  status TEXT NOT NULL
    CHECK (status IN ('a_appeler','pas_de_reponse','joint','en_route','sur_place','indisponible')),
  note TEXT NOT NULL DEFAULT '',
  at TEXT NOT NULL,
  actor_id INTEGER REFERENCES users(id),
  actor_name TEXT NOT NULL,
  log_entry_id INTEGER REFERENCES log_entries(id)
);
CREATE INDEX callout_changes_event ON callout_changes(event_id, contact_id, id);
CREATE TABLE call_changes (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  person_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN
    ('a_appeler','joint','pas_de_reponse','a_evacuer','evacue','pris_en_charge')),
  assignee_id INTEGER REFERENCES users(id),
  note TEXT NOT NULL DEFAULT '',
  change TEXT NOT NULL CHECK (change IN ('listed','status','assigned')),
  at TEXT NOT NULL,
  actor_id INTEGER REFERENCES users(id),
  actor_name TEXT NOT NULL
);
CREATE INDEX call_changes_event ON call_changes(event_id, person_id, id);
CREATE TABLE centre_changes (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  centre_id TEXT NOT NULL,
  name TEXT NOT NULL,
  capacity INTEGER NOT NULL CHECK (capacity >= 0),
  is_open INTEGER NOT NULL CHECK (is_open IN (0, 1)),
  occupancy INTEGER NOT NULL CHECK (occupancy >= 0),
  arrived INTEGER NOT NULL DEFAULT 0 CHECK (arrived >= 0),
  change TEXT NOT NULL CHECK (change IN ('opened','closed','arrivals','departures','count')),
  delta INTEGER NOT NULL DEFAULT 0,
  note TEXT NOT NULL DEFAULT '',
  at TEXT NOT NULL,
  fact_at TEXT NOT NULL,
  actor_id INTEGER REFERENCES users(id),
  actor_name TEXT NOT NULL,
  log_entry_id INTEGER REFERENCES log_entries(id)
);
CREATE INDEX centre_changes_event ON centre_changes(event_id, centre_id, id);
CREATE TABLE means (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  organisation TEXT NOT NULL DEFAULT '',
  capacity TEXT NOT NULL DEFAULT '',
  commune TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  archived_at TEXT,
  UNIQUE (name, organisation)
);
CREATE TABLE means_changes (
  id INTEGER PRIMARY KEY,
  means_id INTEGER NOT NULL REFERENCES means(id),
  event_id INTEGER NOT NULL REFERENCES events(id),
  status TEXT NOT NULL CHECK (status IN ('disponible','en_route','engage')),
  place TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT '',
  at TEXT NOT NULL,
  actor_id INTEGER REFERENCES users(id),
  actor_name TEXT NOT NULL,
  log_entry_id INTEGER REFERENCES log_entries(id)
);
CREATE INDEX means_changes_event ON means_changes(event_id, means_id, id);
CREATE INDEX means_changes_means ON means_changes(means_id, id);
CREATE TABLE tasks (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  checklist_item_id INTEGER REFERENCES checklist_items(id),
  created_at TEXT NOT NULL,
  created_by INTEGER REFERENCES users(id)
);
CREATE INDEX tasks_event ON tasks(event_id, id);
CREATE TABLE task_changes (
  id INTEGER PRIMARY KEY,
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  event_id INTEGER NOT NULL REFERENCES events(id),
  title TEXT NOT NULL,
  assignee_role TEXT,
  assignee_id INTEGER REFERENCES users(id),
  due_at TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('a_faire','en_cours','fait','annule')),
  note TEXT NOT NULL DEFAULT '',
  at TEXT NOT NULL,
  actor_id INTEGER REFERENCES users(id),
  actor_name TEXT NOT NULL,
  log_entry_id INTEGER REFERENCES log_entries(id)
);
CREATE INDEX task_changes_task ON task_changes(task_id, id);
CREATE INDEX task_changes_event ON task_changes(event_id, id);
"""
        + _append_only("callout_changes")
        + _append_only("call_changes")
        + _append_only("centre_changes")
        + _append_only("means_changes")
        + _append_only("tasks")
        + _append_only("task_changes"),
    )


@migrations(name="0011_mapping_addresses")
def m0011_mapping_addresses(db: sqlite_utils.Database) -> None:
    # A dataset keeps its field mapping (the owner's fields onto ours, app.catalogue_file).
    # Addresses (Base Adresse Nationale) live in their own table with a full-text index over a
    # normalised label (app.addresses): an FTS5 external-content table, rebuilt after an import.
    _script(
        db,
        """
ALTER TABLE datasets ADD COLUMN mapping TEXT NOT NULL DEFAULT '[]';
CREATE TABLE addresses (
  id TEXT PRIMARY KEY,
  numero INTEGER,
  rep TEXT NOT NULL DEFAULT '',
  nom_voie TEXT NOT NULL,
  code_postal TEXT NOT NULL DEFAULT '',
  code_insee TEXT NOT NULL,
  nom_commune TEXT NOT NULL,
  nom_ancienne_commune TEXT NOT NULL DEFAULT '',
  lieu_dit TEXT NOT NULL DEFAULT '',
  lon REAL NOT NULL,
  lat REAL NOT NULL,
  type_position TEXT NOT NULL DEFAULT '',
  label TEXT NOT NULL,
  search TEXT NOT NULL,
  source TEXT NOT NULL
);
CREATE INDEX addresses_commune ON addresses(code_insee);
CREATE VIRTUAL TABLE addresses_fts USING fts5(
  search, content='addresses', content_rowid='rowid',
  tokenize='unicode61 remove_diacritics 2'
);
""",
    )


@migrations(name="0012_account_requests")
def m0012_account_requests(db: sqlite_utils.Database) -> None:
    # Four eyes on accounts (issue 12): a role that can hold grants, given from the console, and
    # a director's password reset wait here until a director (not the admin who asked) confirms.
    # A pending request grants nothing: ``user_roles`` holds only roles in effect. The pending
    # password is a hash, cleared once the request is decided.
    _script(
        db,
        """
CREATE TABLE account_requests (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  kind TEXT NOT NULL CHECK (kind IN ('role','password')),
  role TEXT
    CHECK (role IS NULL OR role IN ('director','cell','liaison','steward','exercise','admin')),
  password_hash TEXT,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending','confirmed','refused','cancelled')),
  decided_by TEXT,
  decided_at TEXT,
  reason TEXT NOT NULL DEFAULT '',
  CHECK ((kind = 'role') = (role IS NOT NULL))
);
CREATE UNIQUE INDEX account_requests_one_pending
  ON account_requests(user_id, kind, COALESCE(role, '')) WHERE status = 'pending';
CREATE INDEX account_requests_status ON account_requests(status);
""",
    )


@migrations(name="0013_checklist_corrections")
def m0013_checklist_corrections(db: sqlite_utils.Database) -> None:
    # A tick can be undone or corrected (issue 12): the item keeps the main-courante entry of
    # its latest fact, which the next correction points at (``corrects_id``). Nothing is erased:
    # every tick, undo and correction stays in the log and the audit chain.
    _script(
        db,
        """
ALTER TABLE checklist_items ADD COLUMN log_entry_id INTEGER REFERENCES log_entries(id);
""",
    )


@migrations(name="0014_event_synthesis")
def m0014_event_synthesis(db: sqlite_utils.Database) -> None:
    # The director's written synthesis (situation, measures taken, next steps), page 1 of the
    # situation report. Each version is a main-courante entry with the whole text; the event
    # keeps the current one and the entry it came from.
    _script(
        db,
        """
ALTER TABLE events ADD COLUMN synthesis TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN synthesis_at TEXT;
ALTER TABLE events ADD COLUMN synthesis_by INTEGER REFERENCES users(id);
ALTER TABLE events ADD COLUMN synthesis_entry_id INTEGER REFERENCES log_entries(id);
""",
    )


@migrations(name="0015_inject_addressees")
def m0015_inject_addressees(db: sqlite_utils.Database) -> None:
    # A fired inject is a notification to its addressees (the role the scenario names), shown in
    # their inbox until acknowledged; its title and role are kept with it when it fires. Rows of
    # injects fired before this migration have none and notify nobody.
    _script(
        db,
        """
ALTER TABLE drill_injects ADD COLUMN to_role TEXT;
ALTER TABLE drill_injects ADD COLUMN title TEXT;
ALTER TABLE drill_injects ADD COLUMN applied INTEGER;
CREATE INDEX drill_injects_open ON drill_injects(acknowledged_at, outcome);
""",
    )


@migrations(name="0016_owner_review")
def m0016_owner_review(db: sqlite_utils.Database) -> None:
    # The owner's side (issue 20). Agreements carry a review date (a year after signing for the
    # ones already signed) and what happens past it: ``continue`` (marked « à renouveler ») or
    # ``stop`` (no new grant). Notifications may go to one person (a grant holder, a director)
    # rather than to an organisation's stewards. Verdicts of owner reviews and directors'
    # answers are append-only; ``reminders`` makes the reminder sweeps idempotent. A report's
    # restricted annex (the detail its body gives as counts) is stored apart, append-only.
    _script(
        db,
        """
ALTER TABLE agreements ADD COLUMN review_at TEXT;
ALTER TABLE agreements ADD COLUMN on_lapse TEXT NOT NULL DEFAULT 'continue'
  CHECK (on_lapse IN ('continue','stop'));
UPDATE agreements SET review_at = strftime('%Y-%m-%dT%H:%M:%SZ', signed_at, '+1 year');
ALTER TABLE notifications ADD COLUMN user_id INTEGER REFERENCES users(id);
ALTER TABLE notifications ADD COLUMN ref TEXT;
CREATE INDEX notifications_user ON notifications(user_id, read_at);
CREATE INDEX notifications_org ON notifications(org_id, read_at);
CREATE TABLE review_verdicts (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  org_id INTEGER NOT NULL REFERENCES organisations(id),
  verdict TEXT NOT NULL CHECK (verdict IN ('conforme','contestee')),
  comment TEXT NOT NULL,
  content_sha256 TEXT NOT NULL,
  covered_seq INTEGER NOT NULL,
  signed_by INTEGER NOT NULL REFERENCES users(id),
  signed_at TEXT NOT NULL
);
CREATE INDEX review_verdicts_event ON review_verdicts(event_id, org_id, id);
CREATE TABLE review_answers (
  id INTEGER PRIMARY KEY,
  verdict_id INTEGER NOT NULL UNIQUE REFERENCES review_verdicts(id),
  answer TEXT NOT NULL,
  answered_by INTEGER NOT NULL REFERENCES users(id),
  answered_at TEXT NOT NULL
);
CREATE TABLE reminders (
  kind TEXT NOT NULL,
  ref TEXT NOT NULL,
  sent_at TEXT NOT NULL,
  PRIMARY KEY (kind, ref)
);
CREATE TABLE report_annexes (
  report_id INTEGER PRIMARY KEY REFERENCES reports(id),
  pdf BLOB NOT NULL,
  sha256 TEXT NOT NULL,
  holdings TEXT NOT NULL
);
"""
        + _append_only("review_verdicts")
        + _append_only("review_answers")
        + _append_only("report_annexes"),
    )


@migrations(name="0017_zones_append_only")
def m0017_zones_append_only(db: sqlite_utils.Database) -> None:
    # A zones version is what a report or a message was computed from: never rewritten (a new
    # computation is a new version). The audit chain seals each version's content (app.audit).
    _script(db, _append_only("event_zones"))


@migrations(name="0018_dataset_coverage")
def m0018_dataset_coverage(db: sqlite_utils.Database) -> None:
    # Where a dataset is complete (catalogue ``coverage:``): 'territory' (the agglomeration's
    # outline) or a GeoJSON (Multi)Polygon in WGS84. Beyond it a zone's figures miss that layer.
    _script(db, "ALTER TABLE datasets ADD COLUMN coverage TEXT NOT NULL DEFAULT 'territory'")


@migrations(name="0019_checkpoint_deliveries")
def m0019_checkpoint_deliveries(db: sqlite_utils.Database) -> None:
    # Signed checkpoints handed to the data owners (their steward inbox, by e-mail too): a copy
    # outside the server witnesses the log. ``body`` is the checkpoint file exactly as given;
    # ``checkpoint_mails`` are the e-mail attempts (a delivery's state is its latest attempt).
    _script(
        db,
        """
CREATE TABLE checkpoint_deliveries (
  id INTEGER PRIMARY KEY,
  checkpoint_id INTEGER NOT NULL REFERENCES audit_checkpoints(id),
  org_id INTEGER NOT NULL REFERENCES organisations(id),
  seq INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  body TEXT NOT NULL,
  UNIQUE (checkpoint_id, org_id)
);
CREATE INDEX checkpoint_deliveries_org ON checkpoint_deliveries(org_id, seq);
CREATE TABLE checkpoint_mails (
  id INTEGER PRIMARY KEY,
  delivery_id INTEGER NOT NULL REFERENCES checkpoint_deliveries(id),
  email TEXT NOT NULL,
  mail_id TEXT NOT NULL,
  at TEXT NOT NULL,
  result TEXT NOT NULL CHECK (result IN ('sent','failed','skipped','abandoned')),
  error TEXT NOT NULL DEFAULT '',
  next_attempt_at TEXT
);
CREATE INDEX checkpoint_mails_delivery ON checkpoint_mails(delivery_id, id);
ALTER TABLE notifications ADD COLUMN checkpoint_delivery_id INTEGER
  REFERENCES checkpoint_deliveries(id);
"""
        + _append_only("checkpoint_deliveries")
        + _append_only("checkpoint_mails"),
    )


@migrations(name="0020_totp_enrolment")
def m0020_totp_enrolment(db: sqlite_utils.Database) -> None:
    # A TOTP secret is saved only once the user typed a first code from it: until then it waits
    # here (a few minutes), and the secret in force, if any, stays in force.
    _script(
        db,
        """
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_pending_at TEXT;
""",
    )


@migrations(name="0021_point_bbox")
def m0021_point_bbox(db: sqlite_utils.Database) -> None:
    # The spatial index reads a point's coordinates from its bounding-box columns (no JSON to
    # parse at start-up); app.catalogue.write_features now stores a Point's box as its exact
    # stored coordinates. Rows written before (a reprojected import kept the unrounded box of
    # coordinates stored rounded) are made exact here, once, comparing in Python floats.
    import json

    fixes = []
    for fid, geometry, minx, miny, maxx, maxy in db.execute(
        "SELECT f.id, f.geometry, f.minx, f.miny, f.maxx, f.maxy FROM features f"
        " JOIN datasets d ON d.id = f.dataset_id WHERE d.geometry_type = 'Point'"
    ):
        g = json.loads(geometry)
        c = g.get("coordinates") if isinstance(g, dict) and g.get("type") == "Point" else None
        if not c or len(c) < 2:
            continue
        x, y = float(c[0]), float(c[1])
        if (minx, miny, maxx, maxy) != (x, y, x, y):
            fixes.append((x, y, x, y, fid))
    for start in range(0, len(fixes), 5000):
        db.conn.executemany(
            "UPDATE features SET minx = ?, miny = ?, maxx = ?, maxy = ? WHERE id = ?",
            fixes[start : start + 5000],
        )


@migrations(name="0022_report_as_at")
def m0022_report_as_at(db: sqlite_utils.Database) -> None:
    # A situation report regenerated "as at" a past time (issue 19) is stored and sealed like
    # the others, with the moment it reconstitutes; NULL for a report of its own time.
    _script(db, "ALTER TABLE reports ADD COLUMN as_at TEXT;")


@migrations(name="0023_partner_feed_tokens")
def m0023_partner_feed_tokens(db: sqlite_utils.Database) -> None:
    # Partners' systems read the CAP feed with a feed token of their own (issue 17): it opens the
    # feed and the alerts, nothing else of the API. Only its SHA-256 is kept; revoked, never
    # deleted (the audit chain names it by id). A partner entry says where it comes from
    # (``synthetic`` for the demo directory).
    _script(
        db,
        """
CREATE TABLE partner_feed_tokens (
  id INTEGER PRIMARY KEY,
  partner_id INTEGER NOT NULL REFERENCES partners(id),
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at TEXT,
  last_used_at TEXT
);
CREATE INDEX partner_feed_tokens_partner ON partner_feed_tokens(partner_id);
ALTER TABLE partners ADD COLUMN source TEXT NOT NULL DEFAULT '';
CREATE TRIGGER partner_feed_tokens_no_delete BEFORE DELETE ON partner_feed_tokens
BEGIN
  SELECT RAISE(ABORT, 'partner_feed_tokens: DELETE refused');
END;
""",
    )


@migrations(name="0024_event_state")
def m0024_event_state(db: sqlite_utils.Database) -> None:
    # The live state of each event (app.live): one row, its version bumped in the transaction of
    # every change a view shows; views poll it cheaply. Existing events start at version 1.
    _script(
        db,
        """
CREATE TABLE event_state (
  event_id INTEGER PRIMARY KEY REFERENCES events(id),
  version INTEGER NOT NULL,
  changed_at TEXT NOT NULL,
  parts TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO event_state (event_id, version, changed_at, parts)
  SELECT id, 1, COALESCE(closed_at, declared_at), '{}' FROM events;
""",
    )


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations; return the names applied. Idempotent."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending


SQLITE_MAGIC = b"SQLite format 3\x00"


def not_initialised(path: str | Path) -> str:
    """Why ``path`` holds no initialised console database ("" when it holds one).

    Reads only (the file is never created): a missing path, a directory, an empty or non-SQLite
    file, or a SQLite database without this console's migrations.
    """
    if str(path) == ":memory:":
        return ""
    p = Path(path)
    if not p.exists():
        return f"{p} : aucun fichier"
    if p.is_dir():
        return f"{p} est un dossier"
    try:
        with open(p, "rb") as fh:
            magic = fh.read(16)
    except OSError as exc:
        return f"{p} illisible ({exc.strerror or exc})"
    if not magic:
        return f"{p} est un fichier vide"
    if magic != SQLITE_MAGIC:
        return f"{p} n'est pas une base SQLite"
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            applied = conn.execute(
                "SELECT count(*) FROM _sqlite_migrations WHERE migration_set = ?",
                [migrations.name],
            ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        applied = 0
    if not applied:
        return f"{p} n'est pas une base de la console de crise"
    return ""


def foreign(path: str | Path) -> str:
    """Why ``init`` must not touch ``path`` ("" when it may create or upgrade a database there):
    a directory, a file that is not SQLite, another application's database."""
    problem = not_initialised(path)
    p = Path(path)
    if not problem or not p.exists() or (p.is_file() and p.stat().st_size == 0):
        return ""
    if p.is_dir() or "SQLite" in problem or "illisible" in problem:
        return problem
    conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
    try:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    except sqlite3.Error:
        return problem
    finally:
        conn.close()
    return problem if tables[0] else ""


@functools.cache
def _triggers_of(applied: frozenset[str]) -> dict[str, str]:
    scratch = sqlite_utils.Database(sqlite3.connect(":memory:"), execute_plugins=False)
    try:
        for migration in migrations._migrations:
            if migration.name in applied:
                migration.fn(scratch)
        return {
            name: " ".join(sql.split())
            for name, sql in scratch.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall()
        }
    finally:
        scratch.conn.close()


def expected_triggers(db: sqlite_utils.Database) -> dict[str, str]:
    """Every trigger (name → SQL) the migrations applied to ``db`` create: the schema's own
    list, obtained by running those migrations on an empty database."""
    applied = frozenset(m.name for m in migrations.applied(db))
    return dict(_triggers_of(applied))


def missing_triggers(db: sqlite_utils.Database) -> list[str]:
    """French descriptions of the triggers (append-only guards…) absent or changed in ``db``."""
    present = {
        name: " ".join((sql or "").split())
        for name, sql in db.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'trigger'"
        ).fetchall()
    }
    out = []
    for name, sql in sorted(expected_triggers(db).items()):
        if name not in present:
            out.append(f"déclencheur {name} absent")
        elif present[name] != sql:
            out.append(f"déclencheur {name} modifié")
    return out
