"""French numbers and plurals (app.fr): one formatter, one thin-space rule."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from app import fr, situation


@pytest.mark.parametrize(
    ("value", "digits", "exact", "shown"),
    [
        (12345, 0, True, "12\u202f345"),
        (4.5, 3, False, "4,5"),
        (400.0, 3, False, "400"),
        (1234.5, 1, True, "1\u202f234,5"),
        (None, 0, True, "—"),
        # Rounding a huge number to 3 decimals needs more digits than decimal's default context.
        (9999999999999999832227841, 3, False, "\u202f".join(["10"] + ["000"] * 8)),
    ],
)
def test_number(value: object, digits: int, exact: bool, shown: str) -> None:
    assert fr.number(value, digits, exact=exact) == shown


def test_percent_and_km() -> None:
    assert fr.percent(0.125) == "12,5\u202f%"
    assert fr.km(1250) == "1,25" and fr.km(12500) == "12,5"


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0 entrée"),
        (1, "1 entrée"),
        (1.6, "2 entrées"),
        (None, "— entrées"),
        (2, "2 entrées"),
        (12345, "12\u202f345 entrées"),
    ],
)
def test_count_follows_the_french_plural_rule(n: float, shown: str) -> None:
    assert fr.count(n, "entrée", "entrées") == shown


def test_establishment_nouns_agree_with_their_count() -> None:
    assert [situation.establishment_noun("college", n) for n in (0, 1, 2)] == [
        "collège",
        "collège",
        "collèges",
    ]
    assert situation.establishment_noun("hopital", 3, capital=True) == "Hôpitaux"
    assert situation.establishment_noun("ehpad", 1, capital=True) == "EHPAD"
    assert situation.establishment_noun(None) == "—"


APP = Path(__file__).resolve().parents[2] / "app"


def _shown_strings(path: Path) -> list[str]:
    """The string literals of a module that are not docstrings (docstrings are English)."""
    out: list[str] = []
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline))
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.STRING:
            continue
        before = tokens[i - 1].type if i else tokenize.NEWLINE
        after = tokens[i + 1].type if i + 1 < len(tokens) else tokenize.NEWLINE
        is_docstring = before in (tokenize.INDENT, tokenize.NEWLINE, tokenize.NL) and after in (
            tokenize.NEWLINE,
            tokenize.ENDMARKER,
        )
        if not is_docstring:
            out.append(tok.string)
    return out


def test_no_hand_made_plural_or_number_is_left() -> None:
    """Plurals go through fr.count / the ``count`` filter, numbers through fr.number."""
    found = []
    for path in sorted(APP.rglob("*.html")):
        found += [f"{path.name}: {m}" for m in re.findall(r"\w+\(s\)|\{:,\}", path.read_text())]
    for path in sorted(APP.rglob("*.py")):
        for text in _shown_strings(path):
            found += [f"{path.name}: {m}" for m in re.findall(r"\w+\(s\)|:,[}.]", text)]
    assert found == []
