"""The checks that tell a real card, routing, IBAN or national-insurance number from digits that
merely look like one: they are what keeps order numbers and phone numbers out of the redactions."""

from __future__ import annotations

import re

# First digits of card numbers in use (Visa 4, Mastercard 2/5, Amex 34/37, Discover/UnionPay/
# Maestro 6, Diners/JCB 30/35/36/38). A run starting with 0, 1, 7, 8 or 9 is something else.
CARD_FIRST_DIGITS = frozenset("23456")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_number_valid(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits[0] in CARD_FIRST_DIGITS and luhn_valid(digits)


def aba_routing_valid(digits: str) -> bool:
    """A US routing number: nine digits, a Federal Reserve prefix, the ABA checksum."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    prefix = int(digits[:2])
    if not (0 <= prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    d = [int(c) for c in digits]
    checksum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    return checksum % 10 == 0 and digits != "000000000"


def ssn_valid(digits: str) -> bool:
    """A US social security number the SSA could have issued (area, group and serial rules)."""
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


# HMRC's rules: no D, F, I, Q, U, V in either prefix letter, no O second, a few pairs never
# issued, and a suffix A-D.
_NINO = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")


def nino_valid(text: str) -> bool:
    return bool(_NINO.match(text.upper()))


# IBAN lengths per country (the SWIFT registry, the countries a caller is likely to give).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26,
    "IT": 27, "KW": 30, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TR": 26, "UA": 29,
}  # fmt: skip


def iban_valid(text: str) -> bool:
    """Country code, check digits, the country's length and the ISO 7064 mod-97 check."""
    value = text.upper()
    if IBAN_LENGTHS.get(value[:2]) != len(value) or not value[2:4].isdigit():
        return False
    if not value.isalnum():
        return False
    rearranged = value[4:] + value[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1
