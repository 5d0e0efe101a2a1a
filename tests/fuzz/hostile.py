"""Hostile inputs, by class: a fixed corpus that covers every class issue 14 names, and
Hypothesis strategies that vary them; plus a generator for each custom scalar of
schema.graphql, for schemathesis.

Every value is what a client puts in a JSON `variables` object; the request body is
JSON text with non-ASCII escaped, so a lone surrogate goes over the wire as `\\ud800`
(the only way a client can send one)."""

from __future__ import annotations

import base64
import unicodedata
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import graphql
from hypothesis import strategies as st
from schemathesis.graphql import nodes

# (class, value) pairs; the class names what the report groups by.
Labelled = tuple[str, object]

KNOWN_TYPES = ("Merchant", "Order", "PointLot", "User", "Agent", "Release")


def global_id(text: str | bytes) -> str:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


TEXT: list[Labelled] = [
    ("empty", ""),
    ("blank", "   "),
    ("nul", "\x00"),
    ("nul", "abc\x00def"),
    ("lone surrogate", "\ud800"),
    ("lone surrogate", "a\udfffb"),
    ("bidi override", "\u202eevil\u202c"),
    ("bidi override", "\u2066name\u2069"),
    ("control chars", "a\x01\x1b[31mb\x7f"),
    ("control chars", "line\r\nbreak\t\x0b\x0c\x85"),
    ("zero width", "\u200b\u200d\ufeff"),
    ("unicode digits", "١٣٨٠٠١٣٨٠٠٠"),  # Arabic-Indic
    ("unicode digits", "１３８００１３８０００"),  # fullwidth
    ("unicode digits", "१२३४५६"),  # Devanagari
    ("unicode digits", "𝟏𝟑𝟖𝟎𝟎𝟏𝟑𝟖𝟎𝟎𝟎"),  # mathematical bold
    ("NFKC-changing", "ｆｕｌｌｗｉｄｔｈ"),
    ("NFKC-changing", "ﬁﬂ Ⅻ ① ㎏ K"),
    ("NFKC-changing", "e\u0301"),  # decomposed
    ("numeric words", "NaN"),
    ("numeric words", "-Infinity"),
    ("numeric words", "1e999999"),
    ("numeric words", "9" * 400),
    ("markup and format", "'; DROP TABLE users; --"),
    ("markup and format", "%s%n%x{0}${jndi:x}<script>"),
    ("very long", "x" * 60_000),
    ("very long", "字" * 5_000),
    ("over the body limit", "y" * 70_000),
    ("emoji and astral", "🏪👨‍👩‍👧𝕏"),
]

GLOBAL_IDS: list[Labelled] = [
    ("global id: huge number", global_id(f"Merchant:{2**63}")),
    ("global id: huge number", global_id("Order:" + "9" * 40)),
    ("global id: huge number", global_id(f"User:{2**64 + 1}")),
    ("global id: unknown type", global_id("Nope:1")),
    ("global id: unknown type", global_id("merchant:1")),
    ("global id: unknown type", global_id(":1")),
    ("global id: not a number", global_id("Merchant:abc")),
    ("global id: not a number", global_id("Merchant:1.5")),
    ("global id: not a number", global_id("Merchant:")),
    ("global id: not a number", global_id("Merchant")),
    ("global id: unicode digits", global_id("Merchant:١")),
    ("global id: zero or negative", global_id("Merchant:0")),
    ("global id: zero or negative", global_id("Merchant:-1")),
    ("global id: nul", global_id("Merchant:1\x00")),
    ("global id: not UTF-8", global_id(b"Merchant:\xff\xfe")),
    ("global id: lone surrogate", global_id("Merchant:\ud800")),
    ("global id: not base64", "!!not base64!!"),
    ("global id: not base64", "TWVyY2hhbnQ6MQ"),  # padding missing
]

_MIN_DATE, _MAX_DATE = date.min.isoformat(), date.max.isoformat()
DATES: list[Labelled] = [
    ("calendar end", _MIN_DATE),
    ("calendar end", _MAX_DATE),
    ("not a date", "0000-00-00"),
    ("not a date", "2026-02-30"),
    ("not a date", "+10000-01-01"),
    ("not a date", "2026-W01-1"),
]
DATETIMES: list[Labelled] = [
    ("calendar end", f"{_MIN_DATE}T00:00:00"),
    ("calendar end", f"{_MIN_DATE}T00:00:00+14:00"),
    ("calendar end", f"{_MIN_DATE}T00:00:00-14:00"),
    ("calendar end", f"{_MAX_DATE}T23:59:59.999999"),
    ("calendar end", f"{_MAX_DATE}T23:59:59.999999-14:00"),
    ("calendar end", f"{_MAX_DATE}T23:59:59+14:00"),
    ("not a date", "2026-13-01T00:00:00"),
    ("not a date", "2026-01-01T24:00:00"),
]
MONTHS: list[Labelled] = [
    ("calendar end", "0001-01"),
    ("calendar end", "9999-12"),
    ("not a date", "0000-00"),
    ("not a date", "2026-13"),
]
DECIMALS: list[Labelled] = [
    ("numeric words", "NaN"),
    ("numeric words", "-Infinity"),
    ("numeric words", "sNaN"),
    ("huge number", "1e999999999"),
    ("huge number", "9" * 400),
    ("tiny number", "1e-999999999"),
    ("unicode digits", "٣١.٢"),
]


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


# Added to a working value (a real POS serial and secret, a signed bind QR code, a
# Global ID that names a row, ...), so the value passes the checks that look at its
# shape and reaches what compares, hashes or stores it.
TAINTS: list[tuple[str, str]] = [
    ("nul", "\x00"),
    ("lone surrogate", "\ud800"),
    ("non-ASCII", "é"),
    ("bidi override", "\u202e"),
    ("unicode digits", "١"),
    ("NFKC-changing", "１"),
]


def tainted(working: str) -> list[Labelled]:
    """The working value with each taint appended, and with its last character replaced
    by a non-ASCII one (same length: what a constant-time comparison sees)."""
    found: list[Labelled] = [(f"working value + {c}", working + t) for c, t in TAINTS]
    if working:
        found.append(("working value, last char non-ASCII", working[:-1] + "é"))
    return found


_FEW_TEXT = [v for v in TEXT if v[0] in {"nul", "lone surrogate", "empty", "unicode digits"}]

# What each kind of leaf in an argument gets, from the fixed corpus.
CORPUS: dict[str, list[Labelled]] = {
    "String": TEXT + MONTHS + DATES[:2],
    "ID": TEXT + GLOBAL_IDS,
    "Date": DATES + _FEW_TEXT,
    "DateTime": DATETIMES + DATES[:2] + _FEW_TEXT,
    "Decimal": DECIMALS + _FEW_TEXT,
    "Int64": [("huge number", str(2**63)), ("huge number", "-" + "9" * 40)] + _FEW_TEXT,
    "JSON": [("deep JSON", _nested(200))] + _FEW_TEXT,
}

# What a leaf gets from a role the field refuses: one value of each class that breaks
# parsing rather than a rule (a refusal comes after the arguments are parsed).
FEW: dict[str, list[Labelled]] = {
    kind: [*_FEW_TEXT, *(v for v in values if v[0].startswith(("global id: huge", "calendar")))]
    for kind, values in CORPUS.items()
}

# ------------------------------------------------------------------ generated values

_SPECIAL = "\x00\ud800\udfff\u202e\u2066\u200b\x1b\x7f\x85\u0301\uff11\u0661\ufb01"
_hostile_chars = st.characters(
    categories=("Cc", "Cf", "Cs", "Co", "Nd", "No", "Zs", "Zl", "Zp", "Mn", "Lo", "So"),
)
hostile_text = st.one_of(
    st.text(_hostile_chars, min_size=1, max_size=40),
    st.tuples(st.text(max_size=12), st.sampled_from(_SPECIAL), st.text(max_size=12)).map("".join),
    st.builds(lambda c, n: c * n, st.sampled_from("x字\u0661\uff11"), st.integers(1000, 20_000)),
)

_id_types = st.one_of(st.sampled_from(KNOWN_TYPES), st.text(max_size=12))
_id_numbers = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.text(st.characters(categories=("Nd", "Zs", "Pd", "Po")), max_size=12),
)
hostile_global_ids = st.builds(lambda t, n: global_id(f"{t}:{n}"), _id_types, _id_numbers)

hostile_dates = st.dates(min_value=date.min, max_value=date.max).map(date.isoformat)
_offsets = st.sampled_from([timedelta(hours=h) for h in (-14, -12, -1, 0, 1, 8, 12, 14)])
hostile_datetimes = st.builds(
    lambda d, t, off: datetime.combine(d, t, timezone(off)).isoformat(),
    st.dates(min_value=date.min, max_value=date.max),
    st.times(),
    _offsets,
)
hostile_decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(lambda n: f"{n}e{n % 9999}"),
)


def classify(value: object) -> str:
    """The class of a generated string, for the report."""
    if not isinstance(value, str):
        return type(value).__name__
    if "\x00" in value:
        return "nul"
    if any("\ud800" <= c <= "\udfff" for c in value):
        return "lone surrogate"
    if any(c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069" for c in value):
        return "bidi override"
    if any(unicodedata.category(c) == "Cc" for c in value):
        return "control chars"
    if any(c.isdigit() and not c.isascii() for c in value):
        return "unicode digits"
    if len(value) > 1000:
        return "very long"
    if unicodedata.normalize("NFKC", value) != value:
        return "NFKC-changing"
    return "other text"


def generated(kind: str) -> st.SearchStrategy[Labelled]:
    """Generated hostile values for one kind of leaf, each with its class."""
    text = hostile_text.map(lambda v: (f"generated {classify(v)}", v))
    by_kind: dict[str, st.SearchStrategy[Labelled]] = {
        "ID": st.one_of(text, hostile_global_ids.map(lambda v: ("generated global id", v))),
        "Date": st.one_of(hostile_dates.map(lambda v: ("generated date", v)), text),
        "DateTime": st.one_of(hostile_datetimes.map(lambda v: ("generated datetime", v)), text),
        "Decimal": st.one_of(hostile_decimals.map(lambda v: ("generated decimal", v)), text),
    }
    return by_kind.get(kind, text)


# ------------------------------------------------------- schemathesis: custom scalars


def _datetime_text(d: date, t: time, off: timedelta | None) -> str:
    return datetime.combine(d, t, timezone(off) if off is not None else None).isoformat()


def _json_node(value: object) -> graphql.ValueNode:
    if isinstance(value, dict):
        return nodes.Object(
            [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_json_node(v))
                for k, v in value.items()
            ]
        )
    if isinstance(value, list):
        return nodes.List([_json_node(v) for v in value])
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if value is None:
        return nodes.Null
    return nodes.String(value)


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.from_regex(r"[a-z][a-zA-Z]{0,6}", fullmatch=True), inner, max_size=3),
    ),
    max_leaves=8,
)

# The custom scalars of schema.graphql (test_every_custom_scalar_has_a_generator keeps
# this list complete); each spans the scalar's whole range, its ends weighted in.
SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "Date": st.one_of(st.sampled_from([_MIN_DATE, _MAX_DATE]), hostile_dates).map(nodes.String),
    "DateTime": st.one_of(
        st.sampled_from([v for _, v in DATETIMES[:6]]),
        st.builds(
            _datetime_text,
            st.dates(min_value=date.min, max_value=date.max),
            st.times(),
            st.none() | _offsets,
        ),
    ).map(nodes.String),
    "Decimal": st.one_of(
        st.sampled_from([v for _, v in DECIMALS]),
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        st.decimals(min_value=Decimal(-180), max_value=Decimal(180), places=6).map(str),
    ).map(nodes.String),
    "Int64": st.one_of(
        st.sampled_from([-(2**63), 2**63 - 1, 0, -1]),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
    ).map(nodes.Int),
    "JSON": _json_values.map(_json_node),
}
