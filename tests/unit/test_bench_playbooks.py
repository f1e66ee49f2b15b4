"""The benchmarks' own playbooks stay valid playbooks (``make bench`` must not break unseen when
the playbook format gains a required key)."""

from __future__ import annotations

from pathlib import Path

from app.playbooks import load_playbooks
from bench.scale import BENCH_PLAYBOOKS, playbooks_dir


def test_the_bench_playbooks_load_with_the_consoles(tmp_path: Path) -> None:
    found, errors = load_playbooks(playbooks_dir(tmp_path))
    assert errors == []
    assert set(BENCH_PLAYBOOKS) <= set(found)
