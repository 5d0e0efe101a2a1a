"""Model instances from rows read by hand-written SQL.

With runtime shortcuts on, a row becomes its model the way Tortoise's own queries make
one (`Model._init_from_db`, private: tortoise-orm is pinned to a minor in
pyproject.toml), skipping the constructor's field checks (~0.2 ms a row).
RUNTIME_SHORTCUTS=0 takes the public path: each column through its field's
`to_python_value`, then `Model.construct(_saved_in_db=True)`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from tortoise.models import Model

from app.infra.config import get_settings

M = TypeVar("M", bound=Model)


def from_row(model: type[M], row: Mapping[str, Any]) -> M:
    """The instance of `model` that `row` (its columns by name) is, as saved."""
    if get_settings().runtime_shortcuts:
        return model._init_from_db(**row)
    meta = model._meta
    values: dict[str, Any] = {}
    for column, value in row.items():
        name = meta.fields_db_projection_reverse.get(column, column)
        field = meta.fields_map.get(name)
        if field is not None:
            values[name] = field.to_python_value(value)
    return model.construct(_saved_in_db=True, **values)
