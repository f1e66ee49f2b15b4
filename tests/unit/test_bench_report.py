"""``python -m bench --only NAME --update`` rewrites docs/benchmarks.md keeping the other
sections: where each kept section ran is said once per earlier run, however many updates follow
(the machine and versions tables are not nested into each other at each update)."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.__main__ as report

MACHINE = [("CPU", "Test CPU"), ("cores (nproc)", "2")]


def _versions(numpy: str) -> list[tuple[str, str]]:
    return [("Python", "3.11.7 (CPython)"), ("numpy", numpy)]


def _result(name: str, value: str) -> report.Result:
    out = f"figures of {name}\ntarget: {name} ratio: {value} (target <= 1): met\n"
    return (name, ["python", "-m", f"bench.{name}"], 0, 12.0, out, "")


def _update(path: Path, only: str, value: str) -> str:
    kept = {k: v for k, v in report.kept_sections(path).items() if k != only}
    text = report.render([_result(only, value)], False, kept, report.kept_settings(path))
    path.write_text(text + "\n", "utf-8")
    return text


@pytest.fixture
def numpy_version(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    current = ["2.4.6"]
    monkeypatch.setattr(report, "machine", lambda: MACHINE)
    monkeypatch.setattr(report, "versions", lambda: _versions(current[0]))
    monkeypatch.setattr(report, "discover", lambda: ["bench_api", "bench_cli", "bench_poll"])
    monkeypatch.setattr(report, "summary", lambda name: f"what {name} measures")
    return current


def test_updates_keep_one_setting_per_earlier_run(
    tmp_path: Path, numpy_version: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "benchmarks.md"
    stamps = iter(["2026-11-29 10:00", "2026-11-29 11:00", "2026-11-29 12:00", "2026-11-29 13:00"])

    class Clock:
        @staticmethod
        def now(_tz: object) -> object:
            from datetime import datetime

            return datetime.fromisoformat(next(stamps))

    monkeypatch.setattr(report, "datetime", Clock)
    whole = report.render([_result(n, "0.5") for n in ("bench_api", "bench_cli", "bench_poll")],
                          False)  # fmt: skip
    path.write_text(whole + "\n", "utf-8")
    numpy_version[0] = "2.5.0"  # the library changed between the full run and the updates
    _update(path, "bench_api", "0.4")
    _update(path, "bench_cli", "0.3")
    text = _update(path, "bench_api", "0.2")

    assert text.count("## Machine\n") == 1
    assert "of the kept sections" not in text  # the old nested headings are gone
    # bench_poll still comes from the full run of 10:00, on numpy 2.4.6: said once, with it
    assert text.count("### Machine and versions of the run of 2026-11-29 10:00 UTC") == 1
    older = text.split("### Machine and versions of the run of 2026-11-29 10:00 UTC")[1]
    assert "| numpy | 2.4.6 |" in older.split("## Summary")[0]
    # bench_cli ran at 12:00 on this machine with these versions: a sentence, no tables
    assert "The kept sections run on 2026-11-29 12:00 UTC ran on this machine" in text
    assert "run of 2026-11-29 12:00" not in text
    assert "run of 2026-11-29 11:00" not in text  # no kept section of that run is left
    # the targets: bench_api measured now, the others kept with their own figures
    assert "| [bench_api](#bench_api) | bench_api ratio | 0.2 (target <= 1) | met |" in text
    assert "| [bench_cli](#bench_cli) | bench_cli ratio | 0.3 (target <= 1) | met |" in text
    assert "| [bench_poll](#bench_poll) | bench_poll ratio | 0.5 (target <= 1) | met |" in text
    assert text.count("ok *(kept)*") == 2


def test_a_report_of_one_whole_run_needs_no_setting_of_kept_sections(
    tmp_path: Path, numpy_version: list[str]
) -> None:
    text = report.render([_result("bench_api", "0.5")], False)
    assert "kept" not in text and "Machine and versions of the run" not in text
    path = tmp_path / "benchmarks.md"
    path.write_text(text, "utf-8")
    assert list(report.kept_settings(path).values()) == [
        [*report._table(MACHINE), *report._table(_versions("2.4.6"))]
    ]
