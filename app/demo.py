"""The demo organisations and accounts (demo only: the passwords are printed and well known)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from . import auth
from .catalogue_file import load_catalogue

# Organisations when data/catalogue.yaml is absent; the catalogue's list wins when present.
FALLBACK_ORGS: tuple[tuple[str, str, str], ...] = (
    ("caux-seine", "Caux Seine Agglomération", "agglomeration"),
    ("prefecture-76", "Préfecture de la Seine-Maritime", "prefecture"),
    ("grdf", "GRDF — distribution de gaz", "network_operator"),
    ("ccas-lillebonne", "CCAS de Lillebonne", "social_services"),
    ("fictif-chimie", "FICTIF — Chimie de l'Estuaire", "operator"),
)


# The demo's synthetic address file (Base Adresse Nationale columns, `source` = synthetic).
DEMO_ADDRESSES = "addresses-synthetic.csv"


@dataclass(frozen=True)
class DemoAccount:
    login: str
    name: str
    org: str
    roles: tuple[str, ...]

    @property
    def password(self) -> str:
        return f"{self.login}-caux-seine"


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("director", "Claire Morel (démo)", "caux-seine", ("director",)),
    DemoAccount("cell", "Julien Lefebvre (démo)", "caux-seine", ("cell",)),
    DemoAccount("liaison", "Sophie Bernard (démo)", "prefecture-76", ("liaison",)),
    DemoAccount("steward", "Marc Duval (démo)", "grdf", ("steward",)),
    DemoAccount("exercise", "Hélène Petit (démo)", "caux-seine", ("exercise",)),
    DemoAccount("admin", "Thomas Roux (démo)", "caux-seine", ("admin",)),
    # Second director (approves what the first requests: no self-approval) and two more stewards.
    DemoAccount("director2", "Anne Lemaire (démo)", "prefecture-76", ("director",)),
    DemoAccount("steward-ccas", "Nadia Benali (démo)", "ccas-lillebonne", ("steward",)),
    DemoAccount("steward-chimie", "Paul Girard (démo)", "fictif-chimie", ("steward",)),
    # Stewards of the other restricted layers the playbooks open (demo agreements on synthetic
    # copies; no real operator signed anything).
    DemoAccount("steward-grtgaz", "Luc Moreau (démo)", "grtgaz", ("steward",)),
    DemoAccount("steward-enedis", "Julie Fontaine (démo)", "enedis", ("steward",)),
    DemoAccount("steward-eau", "Karim Haddad (démo)", "caux-seine", ("steward",)),
)


def organisations(data_dir: Path) -> list[dict[str, Any]]:
    """The demo organisations, from data/catalogue.yaml when it exists."""
    catalogue = data_dir / "catalogue.yaml"
    if catalogue.exists():
        orgs = load_catalogue(catalogue).organisations
        if orgs:
            return [{"slug": o.slug, "name": o.name, "kind": o.kind} for o in orgs]
    return [{"slug": s, "name": n, "kind": k} for s, n, k in FALLBACK_ORGS]


def load_accounts(db: sqlite_utils.Database, now: datetime, data_dir: Path) -> list[DemoAccount]:
    """Create the demo organisations and accounts; idempotent. Return the accounts."""
    for org in organisations(data_dir):
        auth.ensure_org(db, now, org["slug"], org["name"], org["kind"])
    for slug, name, kind in FALLBACK_ORGS:
        auth.ensure_org(db, now, slug, name, kind)
    for acc in DEMO_ACCOUNTS:
        if auth.get_user_by_login(db, acc.login) is None:
            auth.add_user(
                db,
                now,
                acc.login,
                name=acc.name,
                org_slug=acc.org,
                roles=list(acc.roles),
                password=acc.password,
                actor="demo",
            )
    return list(DEMO_ACCOUNTS)


def load_territory(db: sqlite_utils.Database, now: datetime, data_dir: Path) -> dict[str, Any]:
    """Create the catalogue's organisations and datasets and import each file; idempotent.

    A dataset already holding features is left as it is (re-run `import --replace` to reload it).
    Return {slug: feature count}.
    """
    from . import addresses, catalogue, imports

    doc = load_catalogue(data_dir / "catalogue.yaml")
    for org in doc.organisations:
        auth.ensure_org(db, now, org.slug, org.name, org.kind)
    counts: dict[str, Any] = {}
    # The territory first: its extent is what the other files are checked against.
    specs = sorted(doc.datasets, key=lambda s: s.slug != "territory")
    from .remote import spec as remote_spec
    from .remote import sync as remote_sync

    for spec in specs:
        dataset = catalogue.ensure_dataset(db, now, spec, actor="demo")
        remote_sync.register(
            db,
            now,
            dataset.slug,
            remote_spec.parse_remote(spec.as_record(), dataset.slug),
            actor="demo",
        )
        if dataset.feature_count == 0 and spec.file:
            imports.import_file(
                db, now, dataset.slug, data_dir / spec.file, actor="demo", fmt="geojson"
            )
        counts[dataset.slug] = catalogue.require_dataset(db, dataset.slug).feature_count
    demo_addresses = data_dir / DEMO_ADDRESSES
    if demo_addresses.exists() and addresses.count(db) == 0:
        addresses.import_ban(db, now, demo_addresses, actor="demo")
    return counts


def load_pcs(db: sqlite_utils.Database, now: datetime, data_dir: Path) -> tuple[int, int]:
    """The demo crisis directory and register of means (``data/pcs/``); idempotent.
    Return (contacts, means) in the directory and the register."""
    import csv

    from .pcs import contacts, means

    folder = data_dir / "pcs"
    if (folder / "contacts.csv").exists():
        contacts.import_csv(db, now, folder / "contacts.csv", actor="demo", source="synthetic")
    if (folder / "means.csv").exists():
        with (folder / "means.csv").open(encoding="utf-8") as fh:
            for line in csv.DictReader(fh):
                means.add_means(
                    db,
                    now,
                    None,
                    name=line["nom"],
                    kind=line["type"],
                    organisation=line["organisation"],
                    capacity=line["capacite"],
                    commune=line["commune"],
                    source="synthetic",
                )
    return len(contacts.all_contacts(db)), len(means.board(db, 0))


def load_agreements(db: sqlite_utils.Database, now: datetime) -> int:
    """Sign the demo agreements (break-glass conventions) once the territory is loaded."""
    from . import access

    return len(access.demo_agreements(db, now))
