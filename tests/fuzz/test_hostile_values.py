"""Hostile values through every argument of the running schema (issue 14).

Each root field is called, signed in as a consumer, a merchant owner and an admin, with working
values in all its arguments but one text-like leaf (a String, an ID or a custom scalar,
inside input objects and lists too), which gets, in turn, every value of the fixed
corpus (NUL, lone surrogates, bidi overrides, control characters, Unicode digits,
NFKC-changing text, very long text, Global IDs with huge numbers and unknown types,
dates at the calendar's ends, ...) and Hypothesis-generated ones. The rule: no HTTP
5xx, no `INTERNAL`, every error with a code. The failures are listed, deduplicated.

Run alone: ./scripts/test tests/fuzz -q (FUZZ_HOSTILE_EXAMPLES, FUZZ_RANDOM: settings.py).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given

from tests.fuzz import hostile
from tests.fuzz.settings import HOSTILE_EXAMPLES, hypothesis_settings
from tests.fuzz.verdict import TALLIES, Judge, Tally
from tests.fuzz.walk import Leaf, Operation, introspect, operations
from tests.fuzz.world import Server, World, running_server, seed_world, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REFUSALS = {"PERMISSION_DENIED", "UNAUTHENTICATED"}


async def test_hostile_values_through_every_argument(db, record_property):
    world = await seed_world()
    callers = await sign_in(world)
    tally = Tally("hostile values")
    TALLIES.append(tally)
    await asyncio.to_thread(_fuzz, world, callers, tally)
    record_property("fuzz_hostile_values", tally.counts())
    if tally.failed:
        pytest.fail(tally.report(), pytrace=False)


def _fuzz(world: World, callers: dict[str, dict[str, str]], tally: Tally) -> None:
    with running_server() as server:
        schema = introspect(server.base_url, callers["admin"])
        ops = operations(schema, world)
        judge = Judge(server.base_url, server.log_path, tally)
        try:
            for role, headers in callers.items():
                for op in ops:
                    _one_operation(judge, op, role, headers)
        finally:
            judge.close()
        _server_still_answers(server)


def _one_operation(judge: Judge, op: Operation, role: str, headers: dict[str, str]) -> None:
    answer = judge.post(
        op.body(), headers, role=role, where=op.where(None), input_class="working values", sample=""
    )
    # A role the field refuses with working values gets only a few hostile ones (its
    # arguments are parsed before the refusal); the roles it serves get them all.
    served = not _refused(answer)
    for leaf in op.leaves:
        corpus = hostile.CORPUS[leaf.kind] if served else hostile.FEW[leaf.kind]
        working = op.working(leaf)
        if served and isinstance(working, str):
            corpus = corpus + hostile.tainted(working)
        for input_class, value in corpus:
            _send(judge, op, leaf, role, headers, input_class, value)
        if served:
            _generated(judge, op, leaf, role, headers)


def _refused(answer: httpx.Response | None) -> bool:
    """Whether the field refused the caller (as a top-level error or a typed one)."""
    if answer is None or answer.status_code != 200:
        return False
    payload = answer.json()
    codes = [(e.get("extensions") or {}).get("code") for e in payload.get("errors") or []]
    codes += [v.get("code") for v in (payload.get("data") or {}).values() if isinstance(v, dict)]
    return bool(REFUSALS.intersection(codes))


def _generated(judge: Judge, op: Operation, leaf: Leaf, role: str, headers: dict) -> None:
    @hypothesis_settings(HOSTILE_EXAMPLES)
    @given(hostile.generated(leaf.kind))
    def send_generated(labelled: hostile.Labelled) -> None:
        _send(judge, op, leaf, role, headers, *labelled)

    send_generated()


def _send(
    judge: Judge,
    op: Operation,
    leaf: Leaf,
    role: str,
    headers: dict[str, str],
    input_class: str,
    value: object,
) -> None:
    judge.post(
        op.body(leaf, value),
        headers,
        role=role,
        where=op.where(leaf),
        input_class=input_class,
        sample=_short(value),
    )


def _short(value: object) -> str:
    text = ascii(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(str(value))} chars)"


def _server_still_answers(server: Server) -> None:
    """After the whole fuzz, the process still serves (nothing wedged it)."""
    assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
