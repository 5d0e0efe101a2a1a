"""Every string a request carries passes one check before execution (app/infra/inputs.py:
no NUL, no unpaired surrogate), wherever it sits: a variable's value, however deep in
input objects and lists, or a literal in the document (an argument, an input object's
field, a list item, a variable's default). graphql-core's String scalar cannot be
replaced, so the check is made here, once per document for its literals (cached with
its cost) and once per request for the variables. A refusal is `INVALID` on the field
the string was given for.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    ObjectFieldNode,
    StringValueNode,
    VariableNode,
    Visitor,
    visit,
)

from app.infra.inputs import text_problem


def literal_problem(document: DocumentNode) -> GraphQLError | None:
    finder = _Literals()
    visit(document, finder)
    return finder.problem


def variable_fields(document: DocumentNode) -> dict[str, str]:
    """Each variable's name -> the argument or input field it is given for (the first
    use), so a refusal names the field a client knows rather than its own `$name`."""
    finder = _Uses()
    visit(document, finder)
    return finder.fields


def variable_problem(
    variables: dict[str, Any] | None, fields: dict[str, str] | None = None
) -> GraphQLError | None:
    """The first string among the variables' values that cannot be taken, as an error."""
    if not variables:
        return None
    for key, value in variables.items():
        problem = _value_problem(value, (fields or {}).get(key, key))
        if problem is not None:
            return problem
    return None


def _value_problem(value: Any, field: str) -> GraphQLError | None:
    if type(value) is str:
        reason = text_problem(value)
        return None if reason is None else _invalid(field, reason)
    if type(value) is dict:
        for key, inner in value.items():
            problem = (
                _invalid(field, "has a key that is not text")
                if type(key) is not str or text_problem(key)
                else _value_problem(inner, key)
            )
            if problem is not None:
                return problem
    elif type(value) is list:
        for item in value:
            problem = _value_problem(item, field)
            if problem is not None:
                return problem
    return None


def _invalid(field: str, reason: str, nodes: Any = None) -> GraphQLError:
    return GraphQLError(
        f"{field} {reason}", nodes, extensions={"code": "INVALID", "field": field or None}
    )


class _Uses(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def enter_variable(
        self, node: VariableNode, key: Any, parent: Any, path: Any, ancestors: Any
    ) -> Any:
        for ancestor in (*ancestors, parent)[::-1]:  # (a list item's parent is its list)
            if isinstance(ancestor, ObjectFieldNode | ArgumentNode):
                self.fields.setdefault(node.name.value, ancestor.name.value)
                break
        return None


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.problem: GraphQLError | None = None

    def enter_string_value(
        self, node: StringValueNode, key: Any, parent: Any, path: Any, ancestors: Any
    ) -> Any:
        reason = text_problem(node.value)
        if reason is None:
            return None
        field = ""
        for ancestor in (*ancestors, parent)[::-1]:
            if isinstance(ancestor, ObjectFieldNode | ArgumentNode):
                field = ancestor.name.value
                break
        self.problem = _invalid(field, reason, [node])
        return self.BREAK
