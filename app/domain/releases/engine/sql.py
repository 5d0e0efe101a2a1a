"""The SQL of the release engine: the release formula per lot, the batch statement, the
ledger postings of a batch. `@name` / `@name!type` parameters, rendered by `fetch` /
`execute` (app/domain/ledger/bulk.py)."""

from __future__ import annotations

from app.domain.ledger.bulk import execute, fetch

__all__ = [
    "BATCH_TOTALS",
    "BONUS_LOTS_UPDATE",
    "LEDGER_SELECT",
    "bonus_insert_sql",
    "eligible_where",
    "execute",
    "fetch",
    "formula_select",
    "payments_insert_sql",
    "scale_sql",
    "ts_cmp",
]

# floor(P * base_rate * I_k / I_f), exact: the same exact products, grouped so that the
# per-release factor (rate * I_k) and the per-cohort divisor (I_f * 10000) are computed
# once, not per lot
_UNITS = (
    "div(l.points::numeric * (@rate!numeric * @ik!numeric), "
    "COALESCE(rf.den, @ik!numeric * 10000))::bigint"
)


def scale_sql(expr: str) -> str:
    """`expr` scaled by the release's scale factor s = @s_int / @s_one, rounded down."""
    return f"div(({expr})::numeric * @s_int!numeric, @s_one!numeric)::bigint"


def ts_cmp(col: str, op: str, param: str) -> str:
    return f"{col} {op} @{param}!timestamptz"


def eligible_where(ranged: bool) -> str:
    w = (
        "l.pool = @pool AND l.status = 'active' AND l.activated_at IS NOT NULL "
        f"AND {ts_cmp('l.activated_at', '<=', 'cutoff')} AND l.id <= @max_id"
    )
    if ranged:
        w += " AND l.id > @lo AND l.id <= @hi"
    return w


def formula_select(ranged: bool) -> str:
    """Per eligible lot: formula units (cap and last-release rule applied)."""
    cap_left = "(@mult * l.points - l.released_units)"
    last = "(l.release_count + 1 >= @max_rel)"
    formula = (
        f"CASE WHEN {last} AND @pay_rem = 1 THEN {cap_left} ELSE LEAST({_UNITS}, {cap_left}) END"
    )
    idx = "CAST(index_after AS NUMERIC)"
    return (
        "SELECT l.id, l.holder_kind, l.holder_id, l.points, l.released_units, "
        "l.release_count, l.recruiter_user_id, COALESCE(l.first_release_no, @k) AS f, "
        f"GREATEST({formula}, 0) AS formula "
        "FROM point_lots l LEFT JOIN "
        f"(SELECT release_no, {idx} AS idx, {idx} * 10000 AS den FROM releases "
        "WHERE pool_id = @pool_id) rf "
        "ON rf.release_no = l.first_release_no "
        f"WHERE {eligible_where(ranged)}"
    )


def payments_insert_sql(holder_cap: bool, scaled: bool, limited: bool = False) -> str:
    """The batch statement: the payments of a batch (lots `lo < id <= hi`; with `limited`,
    the first `@batch` eligible lots after `lo`), the lots' new state, the batch's totals
    and how many lots it paid and the last one's id."""
    paid = scale_sql("x.formula") if scaled else "x.formula"
    if holder_cap:
        # Greedy per holder in lot-id order: a lot gets what is left of the holder's
        # monthly cap after the lots before it (this and earlier batches, releases).
        paid = (
            f"LEAST({paid}, GREATEST(0, h.cap_left - COALESCE(SUM({paid}) OVER ("
            "PARTITION BY x.holder_kind, x.holder_id ORDER BY x.id "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)))"
        )
        # Only the holders of this batch: their month's consumption and what releases
        # already paid them this month, looked up per holder through indexes.
        month = (
            f"o.paid_at IS NOT NULL AND {ts_cmp('o.paid_at', '>=', 'm0')} "
            f"AND {ts_cmp('o.paid_at', '<', 'm1')}"
        )
        holder_join = (
            " LEFT JOIN (SELECT hh.holder_kind, hh.holder_id, "
            "(CASE WHEN hh.holder_kind = 'consumer' THEN (SELECT COALESCE(SUM(o.amount_fen "
            f"- o.refunded_fen), 0) FROM orders o WHERE o.consumer_id = hh.holder_id AND {month}) "
            "ELSE (SELECT COALESCE(SUM(o.amount_fen - o.refunded_fen), 0) FROM orders o "
            f"WHERE o.merchant_id = hh.holder_id AND {month}) END) * @hcap / 10000 "
            "- (SELECT COALESCE(SUM(p.paid_units), 0) FROM release_payments p "
            "JOIN releases r ON r.id = p.release_id WHERE p.holder_kind = hh.holder_kind "
            "AND p.holder_id = hh.holder_id AND r.pool_id = @pool_id "
            "AND r.run_on >= @d0!date AND r.run_on < @d1!date) AS cap_left "
            "FROM (SELECT DISTINCT l.holder_kind, l.holder_id FROM point_lots l "
            f"WHERE {eligible_where(True)}) hh) h "
            "ON h.holder_kind = x.holder_kind AND h.holder_id = x.holder_id"
        )
    else:
        holder_join = ""
    y = f"SELECT x.*, {paid} AS paid FROM ({formula_select(True)}) x{holder_join}"
    if limited:
        y += " ORDER BY x.id LIMIT @batch"
    status_after = (
        "CASE WHEN y.released_units + y.paid >= @mult * y.points THEN 'exited' "
        "WHEN y.release_count + 1 >= @max_rel THEN 'expired' ELSE 'active' END"
    )
    # One statement: the lots of the batch move (UPDATE … FROM the formula, RETURNING
    # what each was paid) and their payments are inserted from what it returns. The
    # lot is read once, and a payment row exists exactly for each lot that moved; a
    # payment already there (unique release, lot, kind) fails the statement whole.
    return (
        "WITH y AS (UPDATE point_lots SET "
        "released_units = point_lots.released_units + y.paid, "
        "release_count = point_lots.release_count + 1, "
        f"status = {status_after}, "
        "first_release_no = COALESCE(point_lots.first_release_no, @k), "
        "first_index = COALESCE(point_lots.first_index, @ik18!numeric) "
        f"FROM ({y}) y WHERE point_lots.id = y.id "
        "AND point_lots.id > @lo AND point_lots.id <= @hi "
        "RETURNING y.*, point_lots.status AS status_after), "
        "ins AS (" + _PAYMENTS_INSERT + "y.status_after FROM y RETURNING *) "
        f"SELECT {BATCH_TOTALS}, COUNT(*) AS lots, MAX(lot_id) AS last FROM ins"
    )


_PAYMENTS_INSERT = (
    "INSERT INTO release_payments (release_id, lot_id, kind, holder_kind, holder_id, "
    "points, first_release_no, formula_units, paid_units, voucher_units, shopping_units, "
    "recruiter_user_id, subsidy_units, status_after) "
    "SELECT @rid, y.id, 'regular', y.holder_kind, y.holder_id, y.points, y.f, y.formula, "
    "y.paid, y.paid * @vs / 10000, y.paid - y.paid * @vs / 10000, y.recruiter_user_id, "
    "CASE WHEN y.recruiter_user_id IS NULL THEN 0 ELSE y.paid * @sub / 10000 END, "
)


# The postings of a batch (`ord, src, dst, asset, amount` for `post_bulk`) from one pass
# over its payments (grouped per holder and recruiter on integer keys first, the few
# thousand groups then summed per posting).
LEDGER_SELECT = (
    "WITH g AS MATERIALIZED (SELECT p.holder_id AS hid, p.holder_kind AS hk, "
    " p.recruiter_user_id AS rec, SUM(p.voucher_units) AS vu, SUM(p.shopping_units) AS su, "
    " SUM(p.subsidy_units) AS sub FROM release_payments p "
    "WHERE p.release_id = @rid AND p.kind = @kind AND p.lot_id > @lo AND p.lot_id <= @hi "
    " GROUP BY p.holder_id, p.holder_kind, p.recruiter_user_id) "
    "SELECT 0 AS ord, @pool_acct AS src, 'reserve:voucher' AS dst, 'CNY' AS asset, "
    " SUM(g.vu + g.sub) AS amount FROM g "
    "UNION ALL SELECT 1, @pool_acct, 'reserve:shopping_points', 'CNY', SUM(g.su) FROM g "
    "UNION ALL SELECT 2, 'issuer:voucher', g.hk || ':' || g.hid || ':voucher', 'VOUCHER', "
    " SUM(g.vu) FROM g GROUP BY g.hid, g.hk "
    "UNION ALL SELECT 3, 'issuer:shopping_points', g.hk || ':' || g.hid || ':shopping_points', "
    " 'SHOPPING_POINTS', SUM(g.su) FROM g GROUP BY g.hid, g.hk "
    "UNION ALL SELECT 4, 'issuer:voucher', 'consumer:' || g.rec || ':voucher', 'VOUCHER', "
    " SUM(g.sub) FROM g WHERE g.rec IS NOT NULL GROUP BY g.rec"
)


BATCH_TOTALS = (
    "COALESCE(SUM(paid_units), 0) AS paid, COALESCE(SUM(voucher_units), 0) AS v, "
    "COALESCE(SUM(shopping_units), 0) AS sh, COALESCE(SUM(subsidy_units), 0) AS sub, "
    "COALESCE(SUM(CASE WHEN paid_units > 0 THEN 1 ELSE 0 END), 0) AS n, "
    "COALESCE(SUM(CASE WHEN status_after = 'exited' THEN 1 ELSE 0 END), 0) AS ex, "
    "COALESCE(SUM(CASE WHEN status_after = 'expired' THEN 1 ELSE 0 END), 0) AS exp, "
    "COALESCE(SUM(CASE WHEN paid_units < formula_units THEN 1 ELSE 0 END), 0) AS lim"
)


def bonus_insert_sql(values: str) -> str:
    """The cohort bonus's payments of a batch's lots: `values` is the cohorts' table
    (`SELECT c, amount, total UNION ALL ...`), each lot's share pro rata to its points,
    within its cap."""
    share = "div(cb.amount::numeric * l.points, cb.total)::bigint"
    cap_left = "(@mult * l.points - l.released_units)"
    return (
        "INSERT INTO release_payments (release_id, lot_id, kind, holder_kind, holder_id, "
        "points, first_release_no, formula_units, paid_units, voucher_units, shopping_units, "
        "recruiter_user_id, subsidy_units, status_after) "
        "SELECT @rid, y.id, 'cohort_bonus', y.holder_kind, y.holder_id, y.points, y.f, "
        "y.share, y.paid, y.paid * @vs / 10000, y.paid - y.paid * @vs / 10000, NULL, 0, "
        "CASE WHEN y.released_units + y.paid >= @mult * y.points THEN 'exited' "
        "ELSE 'active' END FROM (SELECT l.id, l.holder_kind, l.holder_id, l.points, "
        "l.released_units, l.first_release_no AS f, "
        f"{share} AS share, LEAST({share}, {cap_left}) AS paid "
        f"FROM point_lots l JOIN ({values}) cb ON cb.c = l.first_release_no "
        "WHERE l.pool = @pool AND l.status = 'active' AND l.id <= @max_id "
        "AND l.id > @lo AND l.id <= @hi) y WHERE 1 = 1 "
        "ON CONFLICT (release_id, lot_id, kind) DO NOTHING"
    )


# the lots of a batch move by what the cohort bonus paid them
BONUS_LOTS_UPDATE = (
    "UPDATE point_lots SET released_units = released_units + p.paid_units, "
    "status = p.status_after FROM release_payments p WHERE p.release_id = @rid "
    "AND p.kind = 'cohort_bonus' AND p.lot_id = point_lots.id "
    "AND p.lot_id > @lo AND p.lot_id <= @hi"
)
