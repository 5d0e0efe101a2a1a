"""What a query selects under a field.

With runtime shortcuts on, the selection is walked in graphql-core's AST under
Strawberry's `Info` (`Info._raw_info`, private: strawberry-graphql is pinned to one
minor), without building Strawberry's selected-field objects. RUNTIME_SHORTCUTS=0 walks
the public `Info.selected_fields`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from app.infra.config import get_settings


def selects_any(info: Info, names: frozenset[str]) -> bool:
    """Whether the query selects a field of one of these names anywhere under this field
    (through fragments too). Errs on the side of yes: any such name at any depth."""
    if not get_settings().runtime_shortcuts:
        return _selects_any_public(info.selected_fields, names)
    raw = info._raw_info
    stack = [node.selection_set for node in raw.field_nodes]
    seen: set[str] = set()
    while stack:
        selection_set = stack.pop()
        if selection_set is None:
            continue
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                if sel.name.value in names:
                    return True
                stack.append(sel.selection_set)
            elif isinstance(sel, InlineFragmentNode):
                stack.append(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                seen.add(sel.name.value)
                fragment = raw.fragments.get(sel.name.value)
                if fragment is not None:
                    stack.append(fragment.selection_set)
    return False


def _selects_any_public(selections: Sequence[Selection], names: frozenset[str]) -> bool:
    stack: list[Any] = list(selections)
    while stack:
        sel = stack.pop()
        if isinstance(sel, SelectedField) and sel.name in names:
            return True
        stack.extend(sel.selections)
    return False


def core_schema(schema: Any) -> Any:
    """graphql-core's schema under a Strawberry schema (`Schema._schema`, private, with no
    public accessor: an attribute read, so nothing to fall back from; pinned)."""
    return schema._schema
