"""Data that stays with its owner: the client, the sync and the live read against a real
OGC API – Features server (pygeoapi serving a GeoPackage), including the owner's server down,
slow, answering junk and redirecting elsewhere."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, shape

from app import access, audit
from app.clock import iso
from app.db import connect, rows, scalar
from app.records import get_event, latest_zones
from app.remote import client, spec, sync
from app.remote.client import Limits, RemoteError
from tests.conftest import T0
from tests.owner_server import Proxy, Pygeoapi, demo_features, free_port, write_gpkg
from tests.unit.test_access_support import JUSTIFICATION, add_event, user

GAS = "gas-network"
# A zone in Bolbec where the synthetic gas network is dense.
LON, LAT = 0.4585, 49.5735


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("owner")
    write_gpkg(work / "grdf.gpkg", "reseau_gaz", "LineString", demo_features(GAS))
    server = Pygeoapi(work, work / "grdf.gpkg", "reseau-gaz", "reseau_gaz", "id").start()
    proxy = Proxy(server.url)
    yield server, proxy
    proxy.close()
    server.stop()


@pytest.fixture
def proxy(owner) -> Proxy:
    p = owner[1]
    p.mode = "pass"
    p.requests.clear()
    return p


@pytest.fixture
def creds(tmp_path: Path) -> spec.Credentials:
    path = tmp_path / "remote-credentials.yaml"
    path.write_text("grdf:\n  bearer: jeton-de-test-grdf\n")
    path.chmod(0o600)
    return spec.Credentials(path)


@pytest.fixture
def db(territory_app):
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


def remote_block(url: str, **extra: Any) -> dict[str, Any]:
    block = {"kind": "ogcapi", "url": url, "collection": "reseau-gaz", "credentials": "grdf"}
    block.update(extra)
    return {"slug": GAS, "remote": block}


def register(db, url: str, **extra: Any) -> sync.Source:
    found = sync.register(db, T0, GAS, spec.parse_remote(remote_block(url, **extra)), "test")
    assert found is not None
    return found


def liaison_grant(db) -> tuple[int, access.Grant]:
    event_id = add_event(db, T0, lon=LON, lat=LAT)
    g = access.request_grant(
        db,
        T0,
        user(db, "liaison"),
        event_id,
        GAS,
        reason_code="intervention_reseau",
        justification=JUSTIFICATION,
        duration_min=120,
    )
    assert g.status == "active"
    return event_id, g


def expected_in_zone(db, event_id: int) -> list[str]:
    """The demo features meeting the grant's scope, computed independently of the read."""
    from app.geo import proj

    a = access.list_agreements(db, dataset_slug=GAS)[0]
    scope = access.scope_geometry(get_event(db, event_id), latest_zones(db, event_id), a.margin_m)
    return sorted(
        f["id"] for f in demo_features(GAS) if scope.intersects(proj.to_l93(shape(f["geometry"])))
    )


# -- the catalogue's remote: block and the credentials file -----------------------------------


def test_parse_remote_block():
    s = spec.parse_remote(remote_block("https://sig.grdf.example/ogc/", sync_every_min=360))
    assert s == spec.RemoteSpec(
        "ogcapi", "https://sig.grdf.example/ogc", "reseau-gaz", 360, "grdf", True, None
    )
    assert s.origin == ("https", "sig.grdf.example", 443)
    assert spec.parse_remote({"slug": "x"}) is None
    w = spec.parse_remote(
        {
            "slug": "x",
            "remote": {
                "kind": "wfs",
                "url": "https://wfs.example/ows?map=gaz",
                "type_name": "gaz:reseau",
                "geometry_name": "the_geom",
            },
        }
    )
    assert w is not None and w.collection == "gaz:reseau" and w.url.endswith("?map=gaz")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"kind": "wms", "url": "https://a.example", "collection": "c"}, "kind : « wms » inconnu"),
        ({"kind": "ogcapi", "url": "ftp://a.example", "collection": "c"}, "adresse http ou https"),
        (
            {"kind": "ogcapi", "url": "https://u:p@a.example", "collection": "c"},
            "pas d'identifiants dans l'adresse",
        ),
        ({"kind": "ogcapi", "url": "https://a.example"}, "collection : manquant"),
        (
            {"kind": "ogcapi", "url": "https://a.example", "collection": "c", "sync_every_min": 1},
            "sync_every_min : entre 5",
        ),
        (
            {"kind": "ogcapi", "url": "https://a.example", "collection": "c", "x": 1},
            "clé inconnue x",
        ),
        (
            {"kind": "ogcapi", "url": "https://a.example", "collection": "c", "grant_param": "a b"},
            "grant_param",
        ),
        (
            {"kind": "ogcapi", "url": "https://a.example", "collection": "c", "geometry_name": "g"},
            "WFS seul",
        ),
        ("https://a.example", "un bloc"),
    ],
)
def test_parse_remote_refuses_with_the_place(block, message):
    with pytest.raises(spec.RemoteConfigError, match="gas-network.remote") as err:
        spec.parse_remote({"slug": GAS, "remote": block})
    assert message in str(err.value)


def test_credentials_file(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "grdf: {bearer: abc}\n"
        "enedis: {basic: {username: crise, password: 's3cret'}}\n"
        "ddtm: {header: {name: X-API-Key, value: k-123}}\n"
    )
    c = spec.Credentials(path)
    assert c.headers_for("grdf") == {"Authorization": "Bearer abc"}
    assert c.headers_for("enedis") == {"Authorization": "Basic Y3Jpc2U6czNjcmV0"}
    assert c.headers_for("ddtm") == {"X-API-Key": "k-123"}
    assert c.headers_for(None) == {}
    with pytest.raises(spec.RemoteConfigError, match="« enedis2 » absents"):
        c.headers_for("enedis2")
    # Rotated on disk: read again, no restart.
    path.write_text("grdf: {bearer: xyz-rotated}\n")
    assert c.headers_for("grdf") == {"Authorization": "Bearer xyz-rotated"}
    path.write_text("grdf: {header: {name: Host, value: evil}}\n")
    with pytest.raises(spec.RemoteConfigError, match="clé « grdf »") as err:
        c.headers_for("grdf")
    assert "evil" not in str(err.value)
    path.write_text("grdf: [bearer\n")
    with pytest.raises(spec.RemoteConfigError, match=r"c\.yaml, ligne \d+ : YAML illisible"):
        c.headers_for("grdf")
    with pytest.raises(spec.RemoteConfigError, match="introuvable"):
        spec.Credentials(tmp_path / "absent.yaml").headers_for("grdf")


# -- the sync --------------------------------------------------------------------------------


def test_sync_copies_the_collection_from_pygeoapi(db, proxy, creds):
    register(db, proxy.url)
    before = scalar(db, "SELECT revision FROM datasets WHERE slug = ?", [GAS])
    outcome = sync.sync_dataset(db, T0, GAS, credentials=creds, limits=_sync_limits(1000))
    assert outcome.ok, outcome.error
    demo = demo_features(GAS)
    assert outcome.features == len(demo) and outcome.revision == before + 1
    stored = {
        r["fid"]: json.loads(r["properties"])
        for r in rows(
            db,
            "SELECT fid, properties FROM features WHERE dataset_id ="
            " (SELECT id FROM datasets WHERE slug = ?)",
            [GAS],
        )
    }
    assert sorted(stored) == sorted(f["id"] for f in demo)
    first = demo[0]
    assert stored[first["id"]]["diameter_mm"] == first["properties"]["diameter_mm"]
    # Several pages, each asked with the credentials and saying it is a sync.
    asked = [r for r in proxy.requests if "/items" in r["path"]]
    assert len(asked) >= 4
    assert all(r["headers"]["Authorization"] == "Bearer jeton-de-test-grdf" for r in asked)
    assert all(r["headers"]["X-Crisis-Purpose"] == "sync" for r in asked)
    assert "bbox=" in asked[0]["path"] and "properties=" in asked[0]["path"]
    source = sync.get_source(db, GAS)
    assert source.last_success_at == iso(T0) and source.failures == 0
    assert source.next_sync_at == iso(T0 + timedelta(minutes=60))
    record = rows(db, "SELECT * FROM audit_log WHERE action = 'dataset.synced'")[-1]
    assert json.loads(record["details"])["features"] == len(demo)

    # Idempotent: nothing is due at the same time, and an unchanged collection makes no revision.
    assert sync.sweep(db, T0, creds) == []
    again = sync.sync_dataset(db, T0 + timedelta(hours=1), GAS, credentials=creds)
    assert again.ok and again.unchanged and again.revision == before + 1
    assert audit.verify(db).ok


def _sync_limits(page: int) -> Limits:
    return Limits(5.0, 10.0, 60.0, 64 * client.MiB, 100_000, page)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("junk", "réponse illisible du serveur du gestionnaire"),
        ("error", "HTTP 503"),
        ("wrong-shape", "entité 0 : objet « Feature » attendu"),
        ("offsite", "redirection vers un autre serveur refusée"),
    ],
)
def test_a_failed_sync_keeps_the_last_good_copy(db, proxy, creds, mode, reason):
    register(db, proxy.url)
    assert sync.sync_dataset(db, T0, GAS, credentials=creds).ok
    count = scalar(db, "SELECT feature_count FROM datasets WHERE slug = ?", [GAS])
    proxy.mode = mode
    later = T0 + timedelta(hours=2)
    outcomes = sync.sweep(db, later, creds)
    assert [o.ok for o in outcomes] == [False]
    assert reason in outcomes[0].error
    assert scalar(db, "SELECT feature_count FROM datasets WHERE slug = ?", [GAS]) == count
    source = sync.get_source(db, GAS)
    assert source.last_success_at == iso(T0) and source.failures == 1
    assert source.next_sync_at == iso(later + timedelta(minutes=5))  # retried soon, then less
    failed = rows(db, "SELECT * FROM audit_log WHERE action = 'dataset.sync_failed'")
    assert reason in json.loads(failed[-1]["details"])["error"]
    if mode == "offsite":
        assert not any("meta-data" in r["path"] for r in proxy.requests)


def test_a_sync_refused_by_the_catalogue_schema_changes_nothing(db, proxy, creds, tmp_path):
    # The owner's data breaks our schema (a pressure outside its values): the whole copy is
    # refused, naming the feature, and the copy is left as it was.
    feats = demo_features(GAS)[:50]
    feats[7] = json.loads(json.dumps(feats[7]))
    feats[7]["properties"]["pressure"] = "HP"
    work = tmp_path / "owner2"
    work.mkdir()
    write_gpkg(work / "bad.gpkg", "reseau_gaz", "LineString", feats)
    server = Pygeoapi(work, work / "bad.gpkg", "reseau-gaz", "reseau_gaz", "id").start()
    try:
        register(db, server.url)
        count = scalar(db, "SELECT feature_count FROM datasets WHERE slug = ?", [GAS])
        outcome = sync.sync_dataset(db, T0, GAS, credentials=creds)
    finally:
        server.stop()
    assert not outcome.ok
    assert "copie refusée" in outcome.error and f"id {feats[7]['id']}" in outcome.error
    assert "« HP » hors des valeurs" in outcome.error
    assert scalar(db, "SELECT feature_count FROM datasets WHERE slug = ?", [GAS]) == count


# -- the live read of a grant's zone ----------------------------------------------------------


def test_grant_reads_the_zone_live_from_the_owner(db, proxy, creds, monkeypatch):
    monkeypatch.setattr(spec, "_default", creds)
    register(db, proxy.url, grant_param="crisis_grant")
    assert sync.sync_dataset(db, T0, GAS, credentials=creds).ok
    event_id, g = liaison_grant(db)
    proxy.requests.clear()
    features, grant = access.read_features(
        db, T0, user(db, "liaison"), event_id, GAS, "view", "req-live-1"
    )
    assert grant.id == g.id
    assert features.source.kind == "live" and features.source.live
    ids = sorted(f["id"] for f in features)
    assert ids and ids == expected_in_zone(db, event_id)
    agreement = access.get_agreement(db, g.agreement_id)
    assert all(set(f["properties"]) <= set(agreement.fields) | {"id"} for f in features)
    # The owner's server saw which grant and event asked, and only the zone and the fields.
    (asked,) = [r for r in proxy.requests if "/items" in r["path"]]
    assert asked["headers"]["X-Crisis-Grant"] == str(g.id)
    assert asked["headers"]["X-Crisis-Event"] == str(event_id)
    assert asked["headers"]["X-Request-ID"] == "req-live-1"
    assert f"crisis_grant={g.id}:{event_id}" in asked["path"]
    query = dict(p.split("=", 1) for p in asked["path"].split("?", 1)[1].split("&"))
    x0, y0, x1, y1 = (float(v) for v in query["bbox"].replace("%2C", ",").split(","))
    assert box(x0, y0, x1, y1).contains(box(LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01))
    assert x1 - x0 < 0.1
    assert set(query["properties"].replace("%2C", ",").split(",")) == {"id", *agreement.fields}
    record = rows(db, "SELECT * FROM audit_log WHERE action = 'data.read'")[-1]
    details = json.loads(record["details"])
    assert details["source"] == "live" and details["remote"].endswith("/reseau-gaz")
    assert details["ids"] == ids and details["request_id"] == "req-live-1"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("down", "le serveur du gestionnaire ne répond pas"),
        ("junk", "réponse illisible du serveur du gestionnaire"),
        ("html", "réponse illisible du serveur du gestionnaire"),
        ("error", "le serveur du gestionnaire a répondu une erreur (HTTP 503)"),
        ("offsite", "redirection vers un autre serveur refusée"),
    ],
)
def test_owner_failures_fall_back_to_the_synced_copy_and_say_so(
    db, proxy, creds, monkeypatch, mode, reason
):
    monkeypatch.setattr(spec, "_default", creds)
    register(db, proxy.url)
    assert sync.sync_dataset(db, T0, GAS, credentials=creds).ok
    event_id, _ = liaison_grant(db)
    if mode == "down":
        register(db, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    else:
        proxy.mode = mode
    later = T0 + timedelta(hours=1, minutes=35)  # the grant lasts 2 h
    started = time.monotonic()
    features, _ = access.read_features(
        db, later, user(db, "liaison"), event_id, GAS, "view", "req-copy"
    )
    assert time.monotonic() - started < client.LIVE.deadline_s + client.LIVE.read_s
    source = features.source
    assert source.kind == "copy" and source.reason == reason
    assert source.message == f"copie du 23/11 à 14:00 (il y a 1 h 35) — {reason}"
    assert sorted(f["id"] for f in features) == expected_in_zone(db, event_id)
    last = rows(db, "SELECT * FROM audit_log WHERE action = 'data.read'")[-1]
    details = json.loads(last["details"])
    assert details["source"] == "copy" and details["copy_at"] == iso(T0)
    assert details["live_error"] == reason


def test_no_copy_yet_and_owner_down_reads_nothing_and_says_why(db, creds, monkeypatch):
    monkeypatch.setattr(spec, "_default", creds)
    register(db, f"http://127.0.0.1:{free_port()}")
    with db.conn:
        db.execute(
            "DELETE FROM features WHERE dataset_id = (SELECT id FROM datasets WHERE slug = ?)",
            [GAS],
        )
    event_id, _ = liaison_grant(db)
    features, _ = access.read_features(db, T0, user(db, "liaison"), event_id, GAS, "api", "r")
    assert list(features) == []
    assert features.source.kind == "none"
    assert features.source.message == (
        "aucune copie synchronisée — le serveur du gestionnaire ne répond pas"
    )


def test_slow_and_endless_answers_are_cut_short(db, proxy, creds):
    register(db, proxy.url)
    source = sync.get_source(db, GAS)
    request = client.Request(bbox=(0.4, 49.5, 0.5, 49.6))
    quick = Limits(
        connect_s=1.0,
        read_s=1.0,
        deadline_s=1.5,
        max_bytes=2 * client.MiB,
        max_features=100,
        page_size=50,
    )
    proxy.mode, proxy.delay = "slow", 4.0
    started = time.monotonic()
    with pytest.raises(RemoteError) as err:
        list(
            client.fetch(
                source.spec, request, geometry_type="LineString", id_field="id", limits=quick
            )
        )
    assert err.value.kind == "timeout" and err.value.reason == client.DOWN
    assert time.monotonic() - started < 3.0
    proxy.mode = "huge"
    with pytest.raises(RemoteError, match="trop volumineuse") as err:
        list(
            client.fetch(
                source.spec, request, geometry_type="LineString", id_field="id", limits=quick
            )
        )
    proxy.mode = "pass"
    with pytest.raises(RemoteError, match="plus de 100"):
        list(
            client.fetch(
                source.spec,
                client.Request(),
                geometry_type="LineString",
                id_field="id",
                limits=quick,
            )
        )
    # Not the geometry the catalogue declares: refused as a whole.
    with pytest.raises(RemoteError, match="géométrie LineString, Point attendu"):
        list(client.fetch(source.spec, request, geometry_type="Point", id_field="id", limits=quick))


def test_the_live_read_is_skipped_without_a_valid_grant(db, proxy, creds, monkeypatch):
    monkeypatch.setattr(spec, "_default", creds)
    register(db, proxy.url)
    event_id = add_event(db, T0, lon=LON, lat=LAT)
    proxy.requests.clear()
    with pytest.raises(access.AccessDenied):
        access.read_features(db, T0, user(db, "liaison"), event_id, GAS, "view", "r")
    assert proxy.requests == []  # the owner never hears of a read we refuse


# -- WFS 2.0 ---------------------------------------------------------------------------------


class _Wfs:
    """A minimal WFS 2.0 GetFeature endpoint (GeoJSON output) over the demo features: it
    checks the request the way a server would and pages with STARTINDEX/COUNT."""

    def __init__(self):
        import http.server
        import threading
        from urllib.parse import parse_qs, urlsplit

        feats = demo_features(GAS)
        outer = self
        self.seen: list[dict[str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                q = {k.upper(): v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                outer.seen.append(q)
                bad = (
                    q.get("SERVICE") != "WFS"
                    or q.get("VERSION") != "2.0.0"
                    or q.get("REQUEST") != "GetFeature"
                    or q.get("TYPENAMES") != "gaz:reseau"
                    or q.get("OUTPUTFORMAT") != "application/json"
                )
                if bad:
                    self.send_response(400)
                    self.end_headers()
                    return
                selected = feats
                if "BBOX" in q:
                    lat0, lon0, lat1, lon1, crs = q["BBOX"].split(",")
                    assert crs == "urn:ogc:def:crs:EPSG::4326"
                    window = box(float(lon0), float(lat0), float(lon1), float(lat1))
                    selected = [f for f in feats if window.intersects(shape(f["geometry"]))]
                start, count = int(q.get("STARTINDEX", 0)), int(q.get("COUNT", 10))
                page = selected[start : start + count]
                body = json.dumps(
                    {
                        "type": "FeatureCollection",
                        "numberMatched": len(selected),
                        "numberReturned": len(page),
                        "features": page,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ows?map=gaz"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_wfs_getfeature_sync_pages_and_keeps_the_query(db, creds):
    wfs = _Wfs()
    try:
        block = {"kind": "wfs", "url": wfs.url, "type_name": "gaz:reseau", "credentials": "grdf"}
        sync.register(db, T0, GAS, spec.parse_remote({"slug": GAS, "remote": block}), "test")
        outcome = sync.sync_dataset(db, T0, GAS, credentials=creds, limits=_sync_limits(1000))
    finally:
        wfs.server.shutdown()
        wfs.server.server_close()
    assert outcome.ok, outcome.error
    assert outcome.features == len(demo_features(GAS))
    assert [int(q["STARTINDEX"]) for q in wfs.seen] == [0, 1000, 2000, 3000]
    assert "PROPERTYNAME" not in wfs.seen[0]  # no geometry_name declared: never ask for less
