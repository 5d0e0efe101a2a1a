"""Every message the code raises has its Chinese (app/infra/i18n.py).

The test reads app/ as source (AST): each call that makes a DomainError — or one of its
subclasses, found by walking the class definitions, so a new subclass is covered with
no change here — and each message a permission class sets. The message is worked out
as far as the source says: literals as they are, an f-string's values as placeholders
(`⟦0⟧`), both branches of a conditional. A message with no placeholder must be a key
of the catalogue; one with placeholders must match one of its templates. A message
that is only a value passed on (`DomainError(exc.code, exc.message)`) was raised, and
checked, where it was made.

When this fails it prints what to add to `CATALOGUE`, with the English to key it by.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from app.infra import i18n

APP = Path(__file__).resolve().parents[1] / "app"
ROOT_CLASS = "DomainError"
PERMISSION_ROOT = "BasePermission"
_CJK = re.compile(r"[\u4e00-\u9fff]")


# ------------------------------------------------------------------ reading the source


@dataclass
class ErrorClass:
    name: str
    params: list[str]  # of __init__, without self
    defaults: dict[str, ast.expr]
    message: ast.expr  # the message, in terms of params (and __init__'s locals)
    locals: dict[str, ast.expr] = field(default_factory=dict)


@dataclass
class Site:
    where: str
    samples: list[str] | None  # None: a value passed on, checked where it was made


class _Unknown:
    """A part of a message the source does not fix (a value at run time)."""


UNKNOWN = _Unknown()
Part = str | _Unknown


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(APP.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        yield str(path.relative_to(APP.parent)), ast.parse(source, filename=str(path))


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _init(cls: ast.ClassDef) -> ast.FunctionDef | None:
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            return stmt
    return None


def _signature(fn: ast.FunctionDef) -> tuple[list[str], dict[str, ast.expr]]:
    args = [*fn.args.posonlyargs, *fn.args.args][1:] + fn.args.kwonlyargs
    params = [a.arg for a in args]
    positional = [*fn.args.posonlyargs, *fn.args.args][1:]
    defaults: dict[str, ast.expr] = {}
    for arg, default in zip(
        positional[len(positional) - len(fn.args.defaults) :], fn.args.defaults, strict=True
    ):
        defaults[arg.arg] = default
    for arg, kw_default in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True):
        if kw_default is not None:
            defaults[arg.arg] = kw_default
    return params, defaults


def _local_assignments(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                out[target.id] = node.value
    return out


def _bind(params: list[str], defaults: dict[str, ast.expr], call: ast.Call) -> dict[str, ast.expr]:
    bound = dict(defaults)
    for param, arg in zip(params, call.args, strict=False):
        bound[param] = arg
    for kw in call.keywords:
        if kw.arg is not None:
            bound[kw.arg] = kw.value
    return bound


def error_classes(modules: list[tuple[str, ast.Module]]) -> dict[str, ErrorClass]:
    """DomainError and every class under it, each with its message in terms of its
    __init__'s parameters."""
    defs: dict[str, ast.ClassDef] = {}
    for _, module in modules:
        for node in ast.walk(module):
            if isinstance(node, ast.ClassDef):
                defs[node.name] = node
    root = defs[ROOT_CLASS]
    init = _init(root)
    assert init is not None
    params, defaults = _signature(init)
    known = {ROOT_CLASS: ErrorClass(ROOT_CLASS, params, defaults, ast.Name("message"))}
    grew = True
    while grew:
        grew = False
        for name, cls in defs.items():
            if name in known:
                continue
            parent = next((known[b] for b in map(_name, cls.bases) if b in known), None)
            if parent is None:
                continue
            grew = True
            init = _init(cls)
            if init is None:
                known[name] = ErrorClass(name, parent.params, parent.defaults, parent.message)
                continue
            params, defaults = _signature(init)
            super_call = next(
                (
                    node
                    for node in ast.walk(init)
                    if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "__init__"
                ),
                None,
            )
            assert super_call is not None, f"{name}.__init__ does not call its parent's"
            if not isinstance(super_call.func.value, ast.Call):  # Parent.__init__(self, ...)
                super_call = ast.Call(super_call.func, super_call.args[1:], super_call.keywords)
            bound = _bind(parent.params, parent.defaults, super_call)
            message = _substitute(parent.message, bound)
            known[name] = ErrorClass(name, params, defaults, message, _local_assignments(init))
    return known


def _substitute(expr: ast.expr, bound: dict[str, ast.expr]) -> ast.expr:
    class Sub(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            return bound.get(node.id, node)

    return Sub().visit(ast.parse(ast.unparse(expr), mode="eval").body)  # type: ignore[no-any-return]


# A name's value and the scope it is read in (None: the same scope, less that name).
Env = dict[str, tuple[ast.expr, "Env | None"]]


def _parts(expr: ast.expr, env: Env, depth: int = 0) -> list[list[Part]] | None:
    """Every text the expression can be, as literal parts and unknown values; None when
    the whole of it is a value the source does not fix."""
    if depth > 8:
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [[expr.value]]
    if isinstance(expr, ast.Name) and expr.id in env:
        value, scope = env[expr.id]
        if scope is None:
            scope = {k: v for k, v in env.items() if k != expr.id}
        return _parts(value, scope, depth + 1)
    if isinstance(expr, ast.IfExp):
        body, orelse = _parts(expr.body, env, depth + 1), _parts(expr.orelse, env, depth + 1)
        return [*(body or [[UNKNOWN]]), *(orelse or [[UNKNOWN]])]
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left, right = _parts(expr.left, env, depth + 1), _parts(expr.right, env, depth + 1)
        return [[*a, *b] for a, b in itertools.product(left or [[UNKNOWN]], right or [[UNKNOWN]])]
    if isinstance(expr, ast.JoinedStr):
        choices: list[list[list[Part]]] = []
        for value in expr.values:
            if isinstance(value, ast.Constant):
                choices.append([[str(value.value)]])
            elif isinstance(value, ast.FormattedValue):
                inner = _parts(value.value, env, depth + 1) if value.conversion == -1 else None
                choices.append(inner or [[UNKNOWN]])
        return [[p for chunk in combo for p in chunk] for combo in itertools.product(*choices)]
    return None


def _sample(parts: list[Part]) -> str:
    counter = itertools.count()
    return "".join(p if isinstance(p, str) else f"⟦{next(counter)}⟧" for p in parts)


@lru_cache(maxsize=1)
def app_sites() -> list[Site]:
    return sites(list(_modules()))


def sites(modules: list[tuple[str, ast.Module]]) -> list[Site]:
    classes = error_classes(modules)
    out: list[Site] = []
    for rel, module in modules:
        enclosing: dict[ast.AST, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for fn in ast.walk(module):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                enclosing.update((inner, fn) for inner in ast.walk(fn))
        for node in ast.walk(module):
            if isinstance(node, ast.ClassDef):
                out += _permission_messages(node, rel)
            if not isinstance(node, ast.Call):
                continue
            cls = classes.get(_name(node.func) or "")
            if cls is None:
                continue
            fn = enclosing.get(node)
            caller: Env = {k: (v, None) for k, v in (_local_assignments(fn) if fn else {}).items()}
            env: Env = {k: (v, None) for k, v in cls.locals.items()}
            env |= {k: (v, {}) for k, v in cls.defaults.items()}
            env |= {k: (v, caller) for k, v in _bind(cls.params, {}, node).items()}
            parts = _parts(cls.message, env)
            samples = None if parts is None else [_sample(p) for p in parts]
            if samples is not None and all(s == "⟦0⟧" for s in samples):
                samples = None
            out.append(Site(f"{rel}:{node.lineno}", samples))
    return out


def _permission_messages(cls: ast.ClassDef, rel: str) -> list[Site]:
    """The messages a permission class (strawberry's BasePermission) shows."""
    if not any(_name(b) in (PERMISSION_ROOT, "IsAuthenticated") for b in cls.bases):
        return []
    out = []
    for node in ast.walk(cls):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        if _name(node.targets[0]) != "message":
            continue
        parts = _parts(node.value, {})
        if parts is not None:
            out.append(Site(f"{rel}:{node.lineno}", [_sample(p) for p in parts]))
    return out


# ------------------------------------------------------------------------------- tests


def _missing() -> list[tuple[str, str]]:
    missing = []
    for site in app_sites():
        for sample in site.samples or []:
            # a literal is a key; only a message with values may match a template
            ok = i18n.lookup(sample) is not None if "⟦" in sample else sample in i18n.CATALOGUE
            if not ok:
                missing.append((site.where, sample))
    return missing


def test_every_raised_message_has_its_chinese() -> None:
    missing = _missing()
    assert not missing, (
        "add to CATALOGUE in app/infra/i18n.py (⟦n⟧: a value, key it as {name}):\n"
        + "\n".join(f"  {where}: {sample!r}" for where, sample in missing)
    )


def test_the_walk_finds_the_raise_sites() -> None:
    """The walk itself works: it sees the known kinds of raise site, worked out."""
    found = {s for site in app_sites() for s in site.samples or []}
    assert "order not found" in found  # NotFound("order"): a subclass's own f-string
    assert "⟦0⟧ is required" in found  # a parameter of the enclosing function
    assert "insufficient ⟦0⟧ balance" in found  # Overdraft: a value in an f-string
    assert "sign in first" in found  # a permission class's message
    assert len(found) > 100


WALKED = """
class DomainError(Exception):
    def __init__(self, code, message, field=None): ...

class Throttled(DomainError):
    def __init__(self, seconds, field=None):
        DomainError.__init__(self, "RATE_LIMITED", f"wait {seconds} s", field)

class Gone(DomainError):
    def __init__(self, what="thing"):
        text = f"{what} is gone"
        super().__init__("GONE", text)

def f(x, kind):
    msg = "no " + kind if x else "a plain one"
    raise DomainError("INVALID", msg, "x")

def g(exc, n):
    raise DomainError(exc.code, exc.message)  # passed on: checked where it was made
    raise Throttled(n)
    raise Gone()
    raise Gone("order")
    raise DomainError("INVALID", field="y", message=f"at most {n!r} items")
"""


def test_the_walk_follows_subclasses_locals_and_keywords() -> None:
    found = sorted(sites([("m.py", ast.parse(WALKED))]), key=lambda s: int(s.where[5:]))
    assert [site.samples for site in found] == [
        ["no ⟦0⟧", "a plain one"],
        None,
        ["wait ⟦0⟧ s"],
        ["thing is gone"],
        ["order is gone"],
        ["at most ⟦0⟧ items"],
    ]


def test_the_catalogue_is_chinese_and_keeps_its_values() -> None:
    for english, chinese in {**i18n.CATALOGUE, **i18n.SUMMARIES}.items():
        assert _CJK.search(chinese), (english, chinese)
    for english, chinese in i18n.CATALOGUE.items():
        assert set(i18n.template_fields(chinese)) <= set(i18n.template_fields(english)), english
