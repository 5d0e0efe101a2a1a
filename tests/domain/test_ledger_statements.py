"""The SQL the ledger's statement builder produces (no database: the text and values)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime

import pytest

from app.domain.ledger import acct
from app.domain.ledger.statements import (
    Account,
    Column,
    Entry,
    Eq,
    Guard,
    In,
    Insert,
    Params,
    Posting,
    Typed,
    Update,
    entry_statement,
    write_sql,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _statement(**kw):
    postings = [
        Posting(acct.WORLD_CNY, acct.channel_clearing("sandbox"), 100),  # both without a rule
        Posting(acct.channel_clearing("sandbox"), acct.merchant_payable(7), 100),
    ]
    ids = {acct.WORLD_CNY: 30, acct.channel_clearing("sandbox"): 10, acct.merchant_payable(7): 20}
    accounts = [
        Account(30, acct.WORLD_CNY, -100),
        Account(10, acct.channel_clearing("sandbox"), 0),
        Account(20, acct.merchant_payable(7), 100),
    ]
    entry = Entry("test", "t:1", postings, idem_key="k1", memo="m")
    return entry_statement(entry, postings, accounts, ids, NOW, "d" * 64, **kw)


def _numbers(sql: str) -> list[int]:
    return [int(n) for n in re.findall(r"\$(\d+)::", sql)]


def test_every_value_is_a_numbered_cast_parameter():
    sql, values = _statement()
    numbers = _numbers(sql)
    assert sorted(set(numbers)) == list(range(1, len(values) + 1))
    assert "?" not in sql and "{go}" not in sql
    assert "k1" in values and "t:1" in values and "'k1'" not in sql


def test_every_account_is_locked_in_one_pass_in_id_order_before_the_verdict():
    sql, _ = _statement()
    # one locking read over all the entry's accounts, ruled or not, in id order,
    # compatible with the foreign-key checks of postings inserted meanwhile
    assert sql.count("FOR NO KEY UPDATE") == 1 and " FOR UPDATE" not in sql
    assert "t.asset = d.asset ORDER BY t.id FOR NO KEY UPDATE OF t)" in sql
    assert "UPDATE ledger_accounts SET balance = balance +" not in sql  # no unlocked adds
    # the balances move in one update, after the entry row, only where they change
    assert "WHERE t.id = d.id AND d.delta <> 0 AND EXISTS (SELECT 1 FROM e))" in sql
    assert sql.index("e AS (INSERT INTO ledger_entries") < sql.index("b AS (UPDATE")


def test_only_accounts_with_a_balance_rule_are_checked_for_an_overdraft():
    sql, _ = _statement()
    assert "WHERE NOT a.allow_negative AND a.balance + d.delta < 0" in sql


def test_the_entry_is_written_unsealed_and_a_repeat_of_its_key_does_nothing():
    sql, _ = _statement()
    assert "ledger_head" not in sql
    assert ", NULL, '', ''," in sql  # seq, prev_hash, hash: set by the sealing job
    assert "ON CONFLICT (idem_key) DO NOTHING RETURNING id" in sql


def test_a_guard_is_locked_first_and_gates_the_accounts():
    sql, values = _statement(guard=Guard("orders", 42, (In("status", ("created", "paying")),)))
    assert sql.startswith(
        "WITH g AS (SELECT id FROM orders WHERE id = $1::bigint "
        "AND status IN ($2::text, $3::text) FOR UPDATE)"
    )
    assert values[:3] == [42, "created", "paying"]
    assert "t.asset = d.asset WHERE EXISTS (SELECT 1 FROM g) ORDER BY t.id" in sql
    assert "(SELECT count(*) FROM g) AS guarded" in sql
    no_guard, _ = _statement()
    assert "1 AS guarded" in no_guard and "g AS" not in no_guard


def test_writes_are_gated_on_the_entry_row_and_read_back_typed():
    sql, values = _statement(
        writes=[
            Insert("point_lots", ({"order_id": 1, "recruiter_user_id": Typed(None, "bigint")},)),
            Update(
                "orders",
                {"status": "paid", "settlement": {"a": 1}},
                (Eq("id", 1),),
                returning=(Column("id", "bigint"),),
            ),
        ]
    )
    rows = re.search(
        r"w0 AS \(INSERT INTO point_lots \(order_id, recruiter_user_id\) SELECT order_id, "
        r"recruiter_user_id FROM json_to_recordset\(\$(\d+)::json\) "
        r"AS v\(order_id bigint, recruiter_user_id bigint\) WHERE EXISTS \(SELECT 1 FROM e\)\)",
        sql,
    )
    assert rows, sql
    lots = json.loads(values[int(rows.group(1)) - 1])
    assert lots == [{"order_id": 1, "recruiter_user_id": None}]
    assert re.search(
        r"w1 AS \(UPDATE orders SET status = \$\d+::text, settlement = \$\d+::jsonb "
        r"WHERE id = \$\d+::bigint AND EXISTS \(SELECT 1 FROM e\) RETURNING id\)",
        sql,
    )
    assert "ARRAY(SELECT w1.id::bigint FROM w1) AS w1_id" in sql
    assert '{"a":1}' in values


def test_early_release_only_when_asked():
    assert "synchronous_commit" not in _statement()[0]
    assert "set_config('synchronous_commit', 'off', true)" in _statement(early_release=True)[0]


def test_values_are_typed_by_kind_and_none_must_say_its_type():
    p = Params()
    u = uuid.uuid4()
    marks = [p.add(v) for v in (True, 3, "x", NOW, date(2026, 1, 2), u, [1], Typed(None, "int"))]
    assert marks == [
        "$1::boolean", "$2::bigint", "$3::text", "$4::timestamptz", "$5::date", "$6::uuid",
        "$7::jsonb", "$8::int",
    ]  # fmt: skip
    assert p.values[6] == "[1]" and p.values[7] is None
    assert p.values[3] == NOW  # a timestamptz parameter goes as the datetime itself
    with pytest.raises(TypeError):
        p.add(None)


def test_names_are_plain_identifiers_only():
    with pytest.raises(ValueError):
        write_sql(Update("orders; DROP TABLE x", {"a": 1}, (Eq("id", 1),)), Params())
    with pytest.raises(ValueError):
        write_sql(Update("orders", {"a = 1 --": 1}, (Eq("id", 1),)), Params())
    with pytest.raises(ValueError):
        write_sql(Insert("t", ({"a": 1}, {"b": 2})), Params())  # rows differ
    with pytest.raises(ValueError):
        write_sql(Update("orders", {"a": 1}, ()), Params())  # no where: every row


def test_an_empty_in_matches_nothing():
    p = Params()
    assert write_sql(Update("t", {"a": 1}, (In("s", ()),)), p).endswith(
        "WHERE FALSE AND EXISTS (SELECT 1 FROM e)"
    )


def test_the_text_does_not_grow_with_the_postings_or_the_accounts_with_a_rule():
    def statement(shares: dict[int, int]) -> tuple[str, list]:
        payable = {m: acct.merchant_payable(m) for m in shares}
        postings = [
            Posting(acct.WORLD_CNY, acct.channel_clearing("sandbox"), sum(shares.values())),
            *(Posting(acct.channel_clearing("sandbox"), payable[m], v) for m, v in shares.items()),
        ]
        ids = {acct.WORLD_CNY: 30, acct.channel_clearing("sandbox"): 10}
        ids.update({payable[m]: 100 + m for m in shares})
        accounts = [
            Account(30, acct.WORLD_CNY, -sum(shares.values())),
            Account(10, acct.channel_clearing("sandbox"), 0),
            *(Account(100 + m, payable[m], v) for m, v in shares.items()),
        ]
        entry = Entry("test", "t:1", postings, idem_key="k1", memo="m")
        return entry_statement(entry, postings, accounts, ids, NOW, "d" * 64)

    # one merchant paid, or three: the same statement (a connection prepares it once);
    # the accounts and postings travel as one JSON document each
    one_sql, one_values = statement({7: 100})
    three_sql, three_values = statement({7: 60, 8: 30, 9: 10})
    assert one_sql == three_sql
    assert len(one_values) == len(three_values)
    docs = [json.loads(v) for v in three_values if isinstance(v, str) and v.startswith("[{")]
    accounts, lines = docs
    assert [(a["id"], a["delta"]) for a in accounts] == [
        (10, 0),
        (30, -100),
        (107, 60),
        (108, 30),
        (109, 10),
    ]  # in id order
    assert [(x["n"], x["s"], x["d"], x["m"]) for x in lines] == [
        (0, 30, 10, 100),
        (1, 10, 107, 60),
        (2, 10, 108, 30),
        (3, 10, 109, 10),
    ]


def test_insert_rows_go_as_json_typed_by_the_first_row():
    p = Params()
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    u = uuid.UUID(int=7)
    sql = write_sql(
        Insert(
            "outbox_events",
            (
                {"id": u, "at": at, "day": date(2026, 1, 2), "n": 2**62, "p": {"k": [1, "x"]},
                 "raw": Typed('{"already": "json"}', "jsonb"), "who": Typed(None, "bigint")},
                {"id": u, "at": at, "day": date(2026, 1, 3), "n": -1, "p": {}, "raw": "[1]",
                 "who": 5},
            ),
        ),
        p,
    )  # fmt: skip
    spec = "id uuid, at timestamptz, day date, n bigint, p jsonb, raw jsonb, who bigint"
    assert f"AS v({spec})" in sql
    rows = json.loads(p.values[0])
    assert rows[0] == {
        "id": str(u), "at": "2026-01-02T03:04:05.678901+00:00", "day": "2026-01-02",
        "n": 2**62, "p": {"k": [1, "x"]}, "raw": {"already": "json"}, "who": None,
    }  # fmt: skip
    assert rows[1]["raw"] == [1] and rows[1]["who"] == 5 and rows[1]["n"] == -1
