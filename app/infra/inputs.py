"""What text, digits, secrets and dates from outside may be: one place for the rules.

Every string a client sends passes `text_problem` (no NUL, no lone surrogate: neither
can be stored by PostgreSQL or encoded as UTF-8); the schema applies it to every
variable and literal before execution (app/api/graphql/core/boundary.py). Names and addresses
are also normalised (NFKC: full-width letters and digits become the usual ones) and
refused with control or bidirectional-override characters (text that displays other
than it reads). Digits are ASCII digits only: `\\d` and `str.isdigit` accept other
scripts' digits, which would make one phone number many.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import unicodedata
from datetime import date

from app.infra.errors import DomainError

_SURROGATE = re.compile("[\ud800-\udfff]")
# Bidirectional embeddings, overrides and isolates; marks (LRM/RLM/ALM) too.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

PHONE = re.compile(r"1[3-9][0-9]{9}")
REGION_CODE = re.compile(r"[0-9]{6}")
SMS_CODE = re.compile(r"[0-9]{6}")
ASCII_DIGITS = re.compile(r"[0-9]+")

# Dates a client may name: wide enough for any business date, far enough from the
# calendar's ends (year 1, year 9999) that a day or a time zone added never overflows.
FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2199, 12, 31)


def text_problem(value: str) -> str | None:
    """Why the string cannot be taken at all, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii() and _SURROGATE.search(value):
        return "must not contain unpaired surrogates"
    return None


def display_text(value: str | None, field: str, max_len: int, *, required: bool = True) -> str:
    """A name or an address: NFKC, trimmed, no control or bidirectional-override
    characters, at most `max_len` characters."""
    text = unicodedata.normalize("NFKC", value or "").strip()
    if required and not text:
        raise DomainError("INVALID", f"{field} is required", field)
    if len(text) > max_len:
        raise DomainError("INVALID", f"{field} is longer than {max_len} characters", field)
    if not text.isascii() or not text.isprintable():
        for ch in text:
            if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
                raise DomainError("INVALID", f"{field} contains a control character", field)
    return text


def digits(value: str | None, pattern: re.Pattern[str], field: str, message: str) -> str:
    """Text that must be ASCII digits in the pattern's shape (spaces around trimmed)."""
    text = (value or "").strip()
    if not pattern.fullmatch(text):
        raise DomainError("INVALID", message, field)
    return text


def same_secret(a: str, b: str) -> bool:
    """Constant-time equality of two secrets as text, whatever characters they hold
    (hmac.compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def check_date(value: date, field: str) -> date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise DomainError("INVALID", f"{field} must be between {FIRST_DATE} and {LAST_DATE}", field)
    return value


def date_range(start: date, end: date, max_days: int, *, fields: tuple[str, str]) -> int:
    """The number of days from `start` to `end`, both included, refusing dates out of
    range, an end before the start and a span over `max_days`."""
    check_date(start, fields[0])
    check_date(end, fields[1])
    if end < start:
        raise DomainError("INVALID", f"`{fields[1]}` is before `{fields[0]}`", fields[1])
    days = (end - start).days + 1
    if days > max_days:
        raise DomainError("INVALID", f"at most {max_days} days at once", fields[1])
    return days


def private_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address outside the public internet (private, loopback, link-local, shared,
    reserved, multicast): no outbound call of the platform's (a partner's webhook
    receiver) may go to one in prod."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast
