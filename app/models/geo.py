"""Discovery (SPEC §8): heat-map cells, what each paid order contributed, merchant task
counters and rewards, exposure boosts."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class GeoOrderFact(Model):
    """What one paid order put into the heat map and the task counters, kept so a
    repeated hook call counts nothing twice and a refund takes back exactly that."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Order", related_name="geo_fact", on_delete=fields.CASCADE, unique=True
    )
    merchant_id = fields.BigIntField()
    cell = fields.CharField(max_length=16)  # H3 cell at the base resolution, WGS-84
    paid_at = fields.DatetimeField()
    hour = fields.BigIntField()  # hours since the Unix epoch (UTC) of paid_at
    period = fields.CharField(max_length=10)  # ISO week of paid_at, Asia/Shanghai
    amount_fen = fields.BigIntField()
    refunded_fen = fields.BigIntField(default=0)
    counted = fields.BooleanField(default=True)  # false once fully refunded
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "geo_order_facts"


class HeatCell(Model):
    """Paid orders and amounts in one H3 cell during one hour, kept incrementally."""

    id = fields.BigIntField(primary_key=True)
    cell = fields.CharField(max_length=16)
    hour = fields.BigIntField()  # hours since the Unix epoch (UTC)
    # The cell centre (WGS-84), so a bounding box filters rows without H3 on the database.
    lat = fields.FloatField()
    lng = fields.FloatField()
    orders = fields.IntField(default=0)
    amount_fen = fields.BigIntField(default=0)

    class Meta:
        table = "geo_heat_cells"
        unique_together = (("cell", "hour"),)
        indexes = (("hour", "lat", "lng"),)


class MerchantTaskCounter(Model):
    """A task metric of one merchant in one period (an ISO week, or all for lifetime)."""

    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Merchant", related_name="task_counters", on_delete=fields.CASCADE
    )
    metric = fields.CharField(max_length=32)
    period = fields.CharField(max_length=10)
    value = fields.IntField(default=0)

    class Meta:
        table = "geo_task_counters"
        unique_together = (("merchant_id", "metric", "period"),)


class TaskEvent(Model):
    """An outside event counted once towards a task metric (a review, say)."""

    id = fields.BigIntField(primary_key=True)
    metric = fields.CharField(max_length=32)
    event_key = fields.CharField(max_length=64)
    merchant_id = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "geo_task_events"
        unique_together = (("metric", "event_key"),)


class TaskReward(Model):
    """Traffic points paid for one task in one period: at most once."""

    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Merchant", related_name="task_rewards", on_delete=fields.CASCADE
    )
    task_code = fields.CharField(max_length=40)
    period = fields.CharField(max_length=10)
    points = fields.BigIntField()  # centi traffic points
    ledger_entry_id = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "geo_task_rewards"
        unique_together = (("merchant_id", "task_code", "period"),)


class ExposureBoost(Model):
    """Traffic points spent to lift a merchant in nearby ranking until `ends_at`."""

    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Merchant", related_name="boosts", on_delete=fields.CASCADE
    )
    points = fields.BigIntField()  # centi traffic points
    hours = fields.IntField()
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    idem_key = fields.CharField(max_length=96, unique=True)
    ledger_entry_id = fields.BigIntField()
    created_by_id = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "geo_boosts"
        indexes = (("merchant_id", "ends_at"),)
