"""French phone numbers: read in the usual spellings, stored in E.164, shown the French way.

``02 35 12 34 56``, ``+33 2 35 12 34 56``, ``0033 2 35…``, ``0235123456``, ``02.35.12.34.56``
and ``+33 (0)2 35…`` are the same number, stored ``+33235123456`` and shown ``02 35 12 34 56``.
Parsing and validation are Google's libphonenumber (the ``phonenumbers`` package).
"""

from __future__ import annotations

import phonenumbers

REGION = "FR"
SEPARATOR = "/"  # several numbers in one cell: "02 35 12 34 56 / 06 …"


class PhoneError(ValueError):
    """A number that is not a valid phone number (French message)."""


def normalise(text: str) -> str:
    """The E.164 form of a number written the French way; PhoneError when it is not one."""
    raw = (text or "").strip()
    if not raw:
        raise PhoneError("numéro vide")
    try:
        number = phonenumbers.parse(raw, REGION)
    except phonenumbers.NumberParseException:
        raise PhoneError(f"« {raw} » n'est pas un numéro de téléphone") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"« {raw} » n'est pas un numéro de téléphone valide")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_many(text: str) -> list[str]:
    """Every number of a cell (separated by ``/``), normalised, once each, in order."""
    out: list[str] = []
    for part in (text or "").split(SEPARATOR):
        if part.strip():
            number = normalise(part)
            if number not in out:
                out.append(number)
    return out


def display(e164: str) -> str:
    """``02 35 12 34 56`` for a French number, the international form for another."""
    try:
        number = phonenumbers.parse(e164, REGION)
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 33:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def tel_uri(e164: str) -> str:
    """The ``tel:`` link of a number (a tap on a tablet calls it)."""
    return f"tel:{e164}"
