"""CAP 1.2 and EMSI messages of an event, valid against the official schemas at each stage.

The acceptance path of issue 17: a declared toxic release, alert → wind shift → update → level
raised → update → close → cancel, with the CAP ``references`` chain right, and the EMSI of the
same event (ALERT → UPDATE → CANCEL) valid against the EMSI schema, whose four official samples
validate first (the schema is the right one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from flask import Flask
from shapely.geometry import Point, Polygon

from app import audit, events
from app import messages as msgs
from app.clock import FixedClock
from app.db import connect
from app.messages import cap, emsi
from app.records import get_event
from tests.messages_support import (
    CAP,
    EMSI,
    EMSI_SAMPLES,
    cap_schema,
    declare_toxic,
    emsi_schema,
    playbooks,
    user,
)


@pytest.fixture
def tdb(territory_app: Flask) -> Iterator[Any]:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


@pytest.fixture
def tclock(territory_app: Flask) -> FixedClock:
    return territory_app.config["CLOCK"]


def issue(db: Any, clock: FixedClock, event_id: int, kind: str, template: str) -> msgs.Message:
    """Draft (cell), validate (a director), send (cell, no relay): the emitted message."""
    pb = playbooks()[events.get_event(db, event_id).kind]
    m = msgs.draft(db, clock.now(), event_id, pb, kind=kind, template=template,
                   actor=user(db, "cell"))  # fmt: skip
    m = msgs.validate(db, clock.now(), m.id, pb, actor=user(db, "director"))
    return msgs.send(db, clock.now(), m.id, actor=user(db, "cell")).message


def xml_of(db: Any, message: msgs.Message) -> str:
    found = msgs.content(db, message.id)
    assert found is not None
    return found[1].decode("utf-8")


@pytest.mark.parametrize("sample", EMSI_SAMPLES, ids=lambda p: p.name)
def test_the_official_emsi_samples_validate_against_the_copied_schema(sample):
    emsi_schema().validate(str(sample))


def test_toxic_release_alert_update_cancel_chain_and_emsi_at_each_stage(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    pb = playbooks()["toxic-release"]
    tclock.advance(minutes=3)
    alert = issue(tdb, tclock, event.id, "cap", "mise-a-l-abri")
    first_emsi = issue(tdb, tclock, event.id, "emsi", "mise-a-l-abri")

    tclock.advance(minutes=10)
    events.change_params(tdb, tclock.now(), event.id, pb, {"wind_from_deg": 260},
                         actor=user(tdb, "cell"))  # fmt: skip
    assert msgs.cap_update_due(tdb, get_event(tdb, event.id)) == [
        "Les zones ont changé depuis la dernière alerte émise."
    ]
    update1 = issue(tdb, tclock, event.id, "cap", "mise-a-l-abri")
    assert msgs.cap_update_due(tdb, get_event(tdb, event.id)) == []
    second_emsi = issue(tdb, tclock, event.id, "emsi", "point-de-situation")

    tclock.advance(minutes=10)
    events.change_level(tdb, tclock.now(), event.id, 4, actor=user(tdb, "director"))
    update2 = issue(tdb, tclock, event.id, "cap", "evacuation")
    third_emsi = issue(tdb, tclock, event.id, "emsi", "evacuation")

    tclock.advance(minutes=30)
    events.close(tdb, tclock.now(), event.id, "Fuite colmatée", actor=user(tdb, "director"))
    with pytest.raises(msgs.MessageError, match="clos") as refused:
        msgs.draft(tdb, tclock.now(), event.id, pb, kind="cap", template="evacuation",
                   actor=user(tdb, "cell"))  # fmt: skip
    assert refused.value.status == 409
    cancel = issue(tdb, tclock, event.id, "cap", "levee")
    last_emsi = issue(tdb, tclock, event.id, "emsi", "levee")

    chain = [alert, update1, update2, cancel]
    assert [m.msg_type for m in chain] == ["Alert", "Update", "Update", "Cancel"]
    triplets = []
    for m in chain:
        text = xml_of(tdb, m)
        cap_schema().validate(text)
        root = ET.fromstring(text)
        assert root.findtext(f"{CAP}msgType") == m.msg_type
        assert root.findtext(f"{CAP}status") == "Actual"
        refs = root.findtext(f"{CAP}references")
        assert (refs.split() if refs else []) == triplets == list(m.references)
        triplets.append(
            ",".join(root.findtext(f"{CAP}{k}") for k in ("sender", "identifier", "sent"))
        )
    cancel_root = ET.fromstring(xml_of(tdb, cancel))
    assert cancel_root.findtext(f"{CAP}info/{CAP}responseType") == "AllClear"
    assert ET.fromstring(xml_of(tdb, update2)).findtext(f"{CAP}info/{CAP}severity") == "Extreme"
    assert msgs.cap_chain(tdb, event.id) == []  # cancelled: no alert in force

    emsis = [first_emsi, second_emsi, third_emsi, last_emsi]
    assert [m.msg_type for m in emsis] == ["ALERT", "UPDATE", "UPDATE", "CANCEL"]
    risks = []
    for n, m in enumerate(emsis):
        text = xml_of(tdb, m)
        emsi_schema().validate(text)
        root = ET.fromstring(text)
        assert root.findtext(f"{EMSI}CONTEXT/{EMSI}MODE") == "ACTUAL"
        assert root.findtext(f"{EMSI}CONTEXT/{EMSI}SECLASS") == "UNCLAS"
        assert root.findtext(f"{EMSI}EVENT/{EMSI}ETYPE/{EMSI}CATEGORY") == "POL/CHM"
        assert root.findtext(f"{EMSI}EVENT/{EMSI}ETYPE/{EMSI}ENV") == "DIS/CBRN"
        link = root.findtext(f"{EMSI}CONTEXT/{EMSI}LINK/{EMSI}ID")
        assert link == (emsis[n - 1].content.identifier if n else None)
        risks.append(root.findtext(f"{EMSI}EVENT/{EMSI}RISK_ASSESMENT"))
    assert risks == ["STABLE", "STABLE", "NCREA", "DECREA"]
    assert ET.fromstring(xml_of(tdb, last_emsi)).findtext(f"{EMSI}EVENT/{EMSI}STATUS") == "COM"
    current = msgs.current_emsi(tdb, tclock.now(), event.id, pb).decode()
    emsi_schema().validate(current)
    assert "<MSGTYPE>CANCEL</MSGTYPE>" in current
    assert audit.verify(tdb).ok


def test_cap_areas_are_the_zones_with_closed_lat_lon_polygons_and_insee_geocodes(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    alert = issue(tdb, tclock, event.id, "cap", "mise-a-l-abri")
    root = ET.fromstring(xml_of(tdb, alert))
    areas = root.findall(f"{CAP}info/{CAP}area")
    zones = events.latest_zones(tdb, event.id)["geojson"]["features"]
    assert len(areas) == len(zones) == 3
    site = Point(event.lon, event.lat)
    all_codes = set()
    for area, zone in zip(areas, zones, strict=True):
        assert area.findtext(f"{CAP}areaDesc").startswith(zone["properties"]["label"])
        for polygon in area.findall(f"{CAP}polygon"):
            pairs = [tuple(map(float, p.split(","))) for p in polygon.text.split()]
            assert len(pairs) >= 4 and pairs[0] == pairs[-1]
            assert len(pairs) <= cap.MAX_VERTICES
            assert all(49.3 < lat < 49.8 and 0.3 < lon < 1.0 for lat, lon in pairs)  # lat first
            ring = Polygon([(lon, lat) for lat, lon in pairs])
            assert ring.exterior.is_ccw and ring.is_valid
            assert ring.buffer(1e-4).contains(site)  # every zone covers the source
        codes = {g.findtext(f"{CAP}value") for g in area.findall(f"{CAP}geocode")}
        assert {g.findtext(f"{CAP}valueName") for g in area.findall(f"{CAP}geocode")} == {"INSEE"}
        assert all(re.fullmatch(r"76\d{3}", c) for c in codes)
        all_codes |= codes
    assert "76476" in all_codes  # Port-Jérôme-sur-Seine, where the plant stands
    parameter = root.find(f"{CAP}info/{CAP}parameter")
    assert parameter.findtext(f"{CAP}valueName") == cap.CBS_PARAMETER
    assert msgs.cbs_text_count(parameter.findtext(f"{CAP}value")).fits


def test_a_drill_says_exercise_in_cap_and_emsi(tdb, tclock):
    event = declare_toxic(tdb, tclock.now(), drill=True, title="Exercice fuite")
    alert = issue(tdb, tclock, event.id, "cap", "mise-a-l-abri")
    text = xml_of(tdb, alert)
    cap_schema().validate(text)
    root = ET.fromstring(text)
    assert root.findtext(f"{CAP}status") == "Exercise"
    assert root.findtext(f"{CAP}scope") == "Restricted"
    assert "EXERCICE" in root.findtext(f"{CAP}note")
    assert root.findtext(f"{CAP}info/{CAP}headline").startswith("EXERCICE")
    assert alert.content.filename.startswith("EXERCICE-")
    current = msgs.current_emsi(tdb, tclock.now(), event.id, playbooks()["toxic-release"])
    emsi_schema().validate(current.decode())
    assert b"<MODE>EXERCS</MODE>" in current and b"<MSGTYPE>ALERT</MSGTYPE>" in current
    # the event's CAP (the drill page's download) is the alert emitted
    assert msgs.event_cap(tdb, tclock.now(), event.id) == msgs.content(tdb, alert.id)[1]


@pytest.mark.parametrize(
    ("playbook", "where", "params", "category", "cap_category"),
    [
        ("industrial-fire", {"site": "FICTIF-1"}, {"wind_from_deg": 90}, "FIR/UKN", "Fire"),
        ("explosion", {"site": "FICTIF-1"}, {"explosion_type": "bleve"}, "EXP/BLEVE", "CBRNE"),
        ("gas-pipeline-leak", {"point": [0.55, 49.5]}, {}, "EXP/GAS", "Safety"),
        ("seine-flood", {"point": [0.62, 49.45]}, {"seine_level_m": 9.0}, "FLD/PLN", "Met"),
    ],
)
def test_every_hazard_gives_valid_cap_and_emsi(
    tdb, tclock, playbook, where, params, category, cap_category
):
    pb = playbooks()[playbook]
    event = events.declare(tdb, tclock.now(), pb, actor=user(tdb, "cell"), title="Essai",
                           params=params, **where)  # fmt: skip
    cap_xml = msgs.event_cap(tdb, tclock.now(), event.id, pb)
    cap_schema().validate(cap_xml.decode())
    assert ET.fromstring(cap_xml).findtext(f"{CAP}info/{CAP}category") == cap_category
    emsi_xml = msgs.current_emsi(tdb, tclock.now(), event.id, pb)
    emsi_schema().validate(emsi_xml.decode())
    root = ET.fromstring(emsi_xml)
    assert root.findtext(f"{EMSI}EVENT/{EMSI}ETYPE/{EMSI}CATEGORY") == category
    zone_types = [e.findtext(f"{EMSI}TYPE") for e in root.findall(f"{EMSI}EVENT/{EMSI}EGEO")][1:]
    assert zone_types and set(zone_types) <= set(emsi.EGEO_TYPES.values())
    assert root.findtext(f"{EMSI}EVENT/{EMSI}CAUSE") == ("NAT" if playbook == "seine-flood"
                                                         else "ACC")  # fmt: skip


def test_emsi_carries_casualties_and_restricted_marking(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    tdb.execute(
        "INSERT INTO casualty_reports (event_id, at, source, dead, seriously_injured,"
        " slightly_injured, involved) VALUES (?,?,?,?,?,?,?)",
        [event.id, "2026-11-23T13:20:00Z", "SDIS", 0, 2, 5, 40],
    )
    tdb.execute(
        "INSERT INTO reports (event_id, number, trigger, generated_at, author, pdf, sha256,"
        " audit_seq, audit_hash, classification) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [event.id, 1, "manual", "2026-11-23T13:21:00Z", "x", b"%PDF", "0", 1, "0",
         "DIFFUSION RESTREINTE"],
    )  # fmt: skip
    text = msgs.current_emsi(tdb, tclock.now(), event.id, playbooks()["toxic-release"]).decode()
    emsi_schema().validate(text)
    root = ET.fromstring(text)
    assert root.findtext(f"{EMSI}CONTEXT/{EMSI}SECLASS") == "RESTRC"
    c = root.find(f"{EMSI}EVENT/{EMSI}CASUALTIES")
    got = {k: c.findtext(f"{EMSI}{k}") for k in ("TRIAGERED", "TRIAGEYELLOW", "TRIAGEGREEN",
                                                   "TRIAGEBLACK")}  # fmt: skip
    assert got == {"TRIAGERED": "2", "TRIAGEYELLOW": "5", "TRIAGEGREEN": "40", "TRIAGEBLACK": "0"}
    assert c.findtext(f"{EMSI}DATIME") == "2026-11-23T14:20:00+01:00"


def test_the_feed_lists_issued_alerts_at_stable_urls(tdb, tclock):
    real = declare_toxic(tdb, tclock.now())
    drill = declare_toxic(tdb, tclock.now(), drill=True, title="Exercice")
    first = issue(tdb, tclock, real.id, "cap", "mise-a-l-abri")
    tclock.advance(minutes=5)
    second = issue(tdb, tclock, real.id, "cap", "evacuation")
    practice = issue(tdb, tclock, drill.id, "cap", "mise-a-l-abri")
    draft_only = msgs.draft(tdb, tclock.now(), real.id, playbooks()["toxic-release"], kind="cap",
                            template="mise-a-l-abri", actor=user(tdb, "cell"))  # fmt: skip
    atom = "{http://www.w3.org/2005/Atom}"
    root = ET.fromstring(msgs.cap_feed(tdb, tclock.now(), "https://console.example/"))
    assert root.tag == f"{atom}feed"
    for tag in ("id", "title", "updated", "author"):
        assert root.find(f"{atom}{tag}") is not None
    entries = root.findall(f"{atom}entry")
    hrefs = [e.find(f"{atom}link").get("href") for e in entries]
    assert hrefs == [
        f"https://console.example/cap/alerts/{m.content.identifier}.xml" for m in (second, first)
    ]
    for e in entries:
        assert all(e.find(f"{atom}{t}") is not None for t in ("id", "title", "updated"))
    assert msgs.cap_by_identifier(tdb, first.content.identifier) == msgs.content(tdb, first.id)[1]
    assert msgs.cap_by_identifier(tdb, f"caux-seine-crise-e{real.id}-m{draft_only.id}") is None
    with_drills = ET.fromstring(
        msgs.cap_feed(tdb, tclock.now(), "https://console.example", include_drills=True)
    )
    titles = [e.findtext(f"{atom}title") for e in with_drills.findall(f"{atom}entry")]
    assert len(titles) == 3 and titles[0].startswith("EXERCICE")
    assert cap.alert_path(practice.content.identifier).endswith(".xml")
