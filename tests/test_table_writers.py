"""Each table is written by the module CONTRIBUTING.md names for it (rule 2): every
INSERT, UPDATE or DELETE in app/, in SQL text or through a model's queryset, is found
here and checked against that table. A writer the table does not name fails."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from tortoise.models import Model

import app.models as models_package
from app.infra.db import APPS

ROOT = Path(__file__).resolve().parents[1]
WRITES = {"create", "bulk_create", "get_or_create", "update_or_create", "update", "delete"}
SQL_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([a-z_][a-z0-9_]*)", re.I)


def model_tables() -> dict[str, str]:
    """Model class name -> its table, for every model of app/models."""
    out = {}
    for modules in APPS.values():
        for name in modules:
            module = __import__(name, fromlist=["_"])
            for attr, obj in vars(module).items():
                if (
                    isinstance(obj, type)
                    and issubclass(obj, Model)
                    and obj is not Model
                    and obj.__module__.startswith(models_package.__name__)
                ):
                    out[attr] = obj._meta.db_table or attr.lower()
    return out


def writers() -> dict[str, set[str]]:
    """table -> the files of app/ that write it."""
    tables = model_tables()
    known = set(tables.values())
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / "app").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITES
            ):
                root = node.func.value
                while isinstance(root, ast.Call | ast.Attribute):
                    root = root.func if isinstance(root, ast.Call) else root.value
                if isinstance(root, ast.Name) and root.id in tables:
                    found[tables[root.id]].add(rel)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                for table in SQL_WRITE.findall(node.value):
                    if table.lower() in known:
                        found[table.lower()].add(rel)
    return found


def documented() -> dict[str, list[str]]:
    """table -> the modules CONTRIBUTING.md lets write it (the owner first)."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split("## 2.", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("app/"):
            continue
        also = (m.split(" ")[0] for m in cells[2].split(", "))
        allowed = [cells[1], *(m for m in also if m.startswith("app/"))]
        for table in cells[0].split(", "):
            out[table] = allowed
    return out


def test_every_table_is_written_only_by_the_modules_named_for_it():
    rules = documented()
    stray = []
    for table, files in sorted(writers().items()):
        allowed = rules.get(table)
        if allowed is None:
            stray.append(f"{table}: not in CONTRIBUTING.md's table (written by {sorted(files)})")
            continue
        for f in sorted(files):
            if not any(f.removesuffix(".py").startswith(m) for m in allowed):
                stray.append(f"{table}: written by {f}, whose owner is {allowed[0]}")
    assert not stray, "\n".join(stray)


def test_every_model_table_has_an_owner():
    assert set(model_tables().values()) <= set(documented())
