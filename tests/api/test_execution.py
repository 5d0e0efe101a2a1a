"""Plain-object completion (app/api/graphql/runtime/execution.py) answers exactly as graphql-core:
the same data, and the same errors (message, path, locations) when a value is refused."""

from __future__ import annotations

import math
from enum import Enum

import pytest
import strawberry
from strawberry import relay

from app.api.graphql.runtime.execution import PlainCompletion


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Leaf:
    name: str
    size: float
    count: int
    ok: bool
    colour: Colour
    gid: relay.GlobalID
    note: str | None = None


@strawberry.type
class Box:
    title: str
    leaves: list[Leaf]
    maybe: list[Leaf | None]
    inner: Leaf | None = None

    @strawberry.field
    def shout(self) -> str:
        return self.title.upper()


def leaf(**kw):
    base = dict(
        name="a",
        size=1.5,
        count=3,
        ok=True,
        colour=Colour.RED,
        gid=relay.GlobalID("Leaf", "1"),
    )
    return Leaf(**{**base, **kw})


BOXES: dict[str, Box] = {}


@strawberry.type
class Query:
    @strawberry.field
    async def box(self, key: str) -> Box | None:
        return BOXES[key]

    @strawberry.field
    def boxes(self) -> list[Box]:
        return list(BOXES.values())


fast = strawberry.Schema(query=Query, execution_context_class=PlainCompletion)
slow = strawberry.Schema(query=Query)

QUERIES = [
    "{ box(key: $k) { title leaves { name size count ok colour gid note } } }",
    "{ box(key: $k) { t: title __typename leaves { n: name, name, __typename } inner { name } } }",
    "{ box(key: $k) { shout leaves { ...L } maybe { ...L } } } fragment L on Leaf { name size }",
    "{ box(key: $k) { leaves { name @include(if: $inc) count @skip(if: $inc) } } }",
    "{ box(key: $k) { maybe { name count } inner { count size } } }",
    "{ boxes { title leaves { size } } }",
]


def _query(q: str) -> str:
    params = [p for p in ("$k: String!", "$inc: Boolean!") if p.split(":")[0] in q]
    return f"query({', '.join(params)}) {q}" if params else q


def _variables(q: str, inc: bool) -> dict:
    return {k: v for k, v in (("k", "k"), ("inc", inc)) if f"${k}" in q}


CASES = {
    "plain": Box(title="t", leaves=[leaf(), leaf(name="b", note="n")], maybe=[leaf(), None]),
    "empty": Box(title="e", leaves=[], maybe=[]),
    "null in a non-null leaf": Box(title="x", leaves=[leaf(), leaf(name=None)], maybe=[]),
    "nan float": Box(title="x", leaves=[leaf(size=math.nan)], maybe=[]),
    "int beyond 32 bits": Box(title="x", leaves=[leaf(count=2**40)], maybe=[]),
    "int as float": Box(title="x", leaves=[leaf(count=2.0, size=2)], maybe=[]),
    "bool as int": Box(title="x", leaves=[leaf(count=True, ok=1)], maybe=[]),
    "not an object": Box(title="x", leaves=[leaf()], maybe=[], inner="oops"),
    "null item in a non-null list": Box(title="x", leaves=[leaf(), None], maybe=[]),
    "tuple and generator": Box(title="x", leaves=(leaf(),), maybe=(x for x in [leaf()])),
    "string id": Box(title="x", leaves=[leaf(gid="plain")], maybe=[]),
    "exception as a value": Box(
        title="x", leaves=[leaf(note=ValueError("n"))], maybe=[], inner=KeyError("i")
    ),
}


def _shape(result):
    errors = [
        (e.message, e.path, [(loc.line, loc.column) for loc in e.locations or []])
        for e in result.errors or []
    ]
    return result.data, sorted(errors, key=repr)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("query", QUERIES)
async def test_same_answer_as_graphql_core(case, query):
    for inc in (True, False):
        BOXES.clear()
        BOXES["k"] = CASES[case]
        q, variables = _query(query), _variables(query, inc)
        if case == "tuple and generator":  # a generator is consumed by one execution
            BOXES["k"] = Box(title="x", leaves=(leaf(),), maybe=(x for x in [leaf()]))
        fast_result = await fast.execute(q, variable_values=variables)
        assert all(e.path for e in fast_result.errors or [])  # the query itself is valid
        got = _shape(fast_result)
        if case == "tuple and generator":
            BOXES["k"] = Box(title="x", leaves=(leaf(),), maybe=(x for x in [leaf()]))
        want = _shape(await slow.execute(q, variable_values=variables))
        assert got == want


async def test_a_repeated_query_reuses_its_plan_and_still_answers_each_request():
    q = _query(QUERIES[0])
    for title in ("one", "two", "three"):
        BOXES.clear()
        BOXES["k"] = Box(title=title, leaves=[leaf(name=title)], maybe=[])
        res = await fast.execute(q, variable_values={"k": "k"})
        assert res.data["box"]["leaves"][0]["name"] == title
