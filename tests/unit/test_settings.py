"""Every setting is documented in the README, and typed values are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import config

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("setting", config.SETTINGS, ids=lambda s: s.name)
def test_setting_is_documented(setting):
    assert f"CRISIS_{setting.name}" in README.read_text("utf-8")


def test_environment_overrides_and_bad_integers():
    values = config.from_environment({"CRISIS_DB": "/x.db", "CRISIS_IDLE_TIMEOUT_MIN": "30"})
    assert values["DB"] == "/x.db" and values["IDLE_TIMEOUT_MIN"] == 30
    with pytest.raises(SystemExit, match="CRISIS_IDLE_TIMEOUT_MIN"):
        config.from_environment({"CRISIS_IDLE_TIMEOUT_MIN": "soon"})
