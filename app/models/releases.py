"""Pools, releases and the payment of each lot at each release (SPEC §4)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Pool(Model):
    """A points pool (consumer or merchant) and the state its trigger rule needs."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=16, unique=True)
    # The index I as exact decimal text at 30 places (shown at 18): I_k = I_k-1 * (1 + g).
    # Text, because 30 places exceed the ORM decimal context; SQL casts it to NUMERIC.
    index = fields.CharField(max_length=80, default="1")
    release_count = fields.IntField(default=0)
    # S0: the size recorded at the last release (virtual start before the first).
    last_size = fields.BigIntField(null=True)
    # The day the interval is counted from: the last release, or the first evaluation.
    anchor_on = fields.DateField(null=True)
    last_release_at = fields.DatetimeField(null=True)
    last_scale = fields.DecimalField(max_digits=30, decimal_places=18, null=True)
    # A release whose condition was met, waiting for the next working day.
    due_on = fields.DateField(null=True)
    due_trigger = fields.CharField(max_length=16, null=True)
    condition_on = fields.DateField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "release_pools"


class ReleaseStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"


class Release(Model):
    """One release of one pool, with every input that produced it."""

    id = fields.BigIntField(primary_key=True)
    pool: fields.ForeignKeyRelation[Pool] = fields.ForeignKeyField(
        "releases.Pool", related_name="releases", on_delete=fields.RESTRICT
    )
    release_no = fields.IntField()
    status = fields.CharEnumField(ReleaseStatus, max_length=10, default=ReleaseStatus.RUNNING)
    phase = fields.CharField(max_length=16, default="regular")  # regular, bonus, done
    policy = fields.CharField(max_length=40)
    trigger = fields.CharField(max_length=16)  # growth | max_interval
    condition_on = fields.DateField()
    run_on = fields.DateField()
    size = fields.BigIntField()  # S
    prev_size = fields.BigIntField()  # S0
    growth = fields.DecimalField(max_digits=30, decimal_places=18)  # g
    index_growth = fields.DecimalField(max_digits=30, decimal_places=18)  # min(g, max)
    index_before = fields.CharField(max_length=80)  # exact decimal text, 30 places
    index_after = fields.CharField(max_length=80)
    scale_factor = fields.DecimalField(max_digits=30, decimal_places=18)  # s, 1 = unscaled
    available_before_fen = fields.BigIntField()
    budget_fen = fields.BigIntField()  # what the release may pay at most
    requested_fen = fields.BigIntField()  # what the formula asked for
    paid_fen = fields.BigIntField(default=0)
    voucher_fen = fields.BigIntField(default=0)
    shopping_fen = fields.BigIntField(default=0)
    subsidy_fen = fields.BigIntField(default=0)
    cohort_bonus_fen = fields.BigIntField(default=0)
    lots_paid = fields.IntField(default=0)
    lots_exited = fields.IntField(default=0)
    lots_expired = fields.IntField(default=0)
    valves: dict = fields.JSONField(default=dict)  # valves, bound?
    params: dict = fields.JSONField(default=dict)  # policy, cohorts
    cutoff_at = fields.DatetimeField()  # lots active by then take part
    cutoff_iso = fields.CharField(max_length=40)
    max_lot_id = fields.BigIntField(default=0)
    cursor_lot_id = fields.BigIntField(default=0)  # last lot id whose batch is committed
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "releases"
        unique_together = (("pool_id", "release_no"),)


class ReleasePayment(Model):
    """What one lot received at one release (kind regular or cohort_bonus)."""

    id = fields.BigIntField(primary_key=True)
    # A plain key, not a foreign key: millions of rows go in per release, and the
    # engine writes them only for the release it holds locked.
    release_id = fields.BigIntField()
    lot_id = fields.BigIntField()
    kind = fields.CharField(max_length=16, default="regular")
    holder_kind = fields.CharField(max_length=10)
    holder_id = fields.BigIntField()
    points = fields.BigIntField()  # P at the time
    first_release_no = fields.IntField()  # f
    formula_units = fields.BigIntField()  # before scaling and valves
    paid_units = fields.BigIntField()
    voucher_units = fields.BigIntField()
    shopping_units = fields.BigIntField()
    recruiter_user_id = fields.BigIntField(null=True)
    subsidy_units = fields.BigIntField(default=0)
    status_after = fields.CharField(max_length=10)

    class Meta:
        table = "release_payments"
        unique_together = (("release_id", "lot_id", "kind"),)
        indexes = (("holder_kind", "holder_id", "id"), ("lot_id", "release_id"))
