"""French telephone numbers, read the French way and dialable (``app.fr.phone``)."""

from __future__ import annotations

import pytest

from app import fr


@pytest.mark.parametrize(
    ("given", "shown", "uri"),
    [
        ("0235123456", "02 35 12 34 56", "tel:+33235123456"),
        ("02 35 12 34 56", "02 35 12 34 56", "tel:+33235123456"),
        ("02.35.12.34.56", "02 35 12 34 56", "tel:+33235123456"),
        ("+33 2 35 12 34 56", "02 35 12 34 56", "tel:+33235123456"),
        ("0033 6 00 00 00 00", "06 00 00 00 00", "tel:+33600000000"),
        ("01 99 00 51 97", "01 99 00 51 97", "tel:+33199005197"),  # reserved for fiction
    ],
)
def test_a_french_number_is_grouped_and_dialable(given: str, shown: str, uri: str) -> None:
    assert fr.phone(given) == (shown, uri)


@pytest.mark.parametrize("given", ["", "12", "0035123456", "DEMO-VUL-001", "+44 20 7946 0000", 235])
def test_anything_else_is_left_as_it_is(given: object) -> None:
    assert fr.phone(given) is None
