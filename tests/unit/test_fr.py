"""French numbers and plurals (app.fr): one formatter, one thin-space rule."""

from __future__ import annotations

import pytest

from app import fr


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
