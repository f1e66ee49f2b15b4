"""Each playbook can open what it names (issue 13, item 6)."""

from __future__ import annotations

from pathlib import Path

from app import access, auth
from app.db import connect
from app.playbooks import load_playbooks
from tests.conftest import PROJECT, T0, Runner


def test_the_demo_agreements_open_every_restricted_dataset_a_playbook_names(
    territory_app,
) -> None:
    """Guards the demo: the gas-leak playbook named `gas-transport`, which no agreement
    opened on the main of before (nor the power and water networks of the flood)."""
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors
    db = connect(territory_app.config["CRISIS_DB"])
    wanted = [(pb.id, pb.datasets) for pb in found.values()]
    assert access.unopened_datasets(db, T0, wanted) == []
    assert ("gas-pipeline-leak", "gas-transport") in [
        (k, s) for k, sl in wanted for s in sl
    ]  # the case of the issue is really checked
    db.conn.close()


def test_playbooks_check_warns_about_a_dataset_no_agreement_opens(
    territory_app, tmp_path: Path
) -> None:
    """Guards `playbooks check`: a warning naming the file and the dataset, exit 0; exit 1
    with --strict; no warning when the agreements cover everything."""
    run = Runner(
        {
            "CRISIS_DB": territory_app.config["CRISIS_DB"],
            "CRISIS_CHECKPOINT_KEY": str(tmp_path / "k"),
            "CRISIS_CHECKPOINT_DIR": str(tmp_path / "c"),
        }
    )
    clean = run("playbooks", "check")
    assert clean.exit_code == 0, clean.output
    assert "ATTENTION" not in clean.output and "0 avertissement" in clean.output
    db = connect(territory_app.config["CRISIS_DB"])
    steward = auth.get_user_by_login(db, "steward-grtgaz")
    assert steward is not None
    (agreement,) = access.list_agreements(db, dataset_slug="gas-transport")
    access.withdraw_agreement(db, T0, steward, agreement.id)
    db.conn.close()
    warned = run("playbooks", "check")
    assert warned.exit_code == 0, warned.output
    assert "ATTENTION gas-pipeline-leak.yaml : « gas-transport »" in warned.output
    assert "1 avertissement" in warned.output
    assert run("playbooks", "check", "--strict").exit_code == 1
