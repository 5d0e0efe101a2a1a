"""The repository stands on its own: no file of the product or its tests names a path
outside it (a machine's folders, a sibling checkout). Fixtures live in tests/data/;
the rules in docs/rules.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["app", "tests", "policies", "docs", "README.md", "ARCHITECTURE.md"]
TEXT = {".py", ".toml", ".md", ".csv", ".json", ".txt", ".graphql", ".sql", ".cfg", ".ini"}

# An absolute path under a machine's top-level folders, a home directory, or a way up
# out of the repository. (URL paths such as "/graphql" or "/v3/pay/..." are not these.)
_TOP = "work|home|root|tmp|var|opt|mnt|srv|usr|etc|bin|lib|data|shared|Users|Volumes|private"
OUTSIDE = re.compile(
    rf"(?<![\w.:/~-])/(?:{_TOP})(?=/|\b)"  # /work/shared/..., /home/me/..., /tmp/x
    r"|(?<![\w.])~/"  # ~/something
    r"|\.\./"  # ../shared/SPEC.md
    r"|(?<![\w.-])shared/"  # shared/golden/... relative to a parent folder
)


def _files() -> list[Path]:
    out = []
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        out += [
            p
            for p in candidates
            if p.is_file() and p.suffix in TEXT and "__pycache__" not in p.parts
        ]
    return out


def test_no_file_names_a_path_outside_the_repository() -> None:
    me = Path(__file__).resolve()
    found = []
    for path in _files():
        if path == me:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "paths outside the repository:\n" + "\n".join(found)


def test_the_check_sees_such_paths() -> None:
    for bad in [
        'GOLDEN = "/work/shared/golden/schedule.csv"',
        "[SPEC](../shared/SPEC.md)",
        'open("/tmp/x.csv")',
        'Path("~/data.csv").expanduser()',
        'read("/home/dev/fixtures/a.json")',
    ]:
        assert OUTSIDE.search(bad), bad
    for good in [
        'client.post("/graphql")',
        'f"/v3/pay/transactions/jsapi"',
        'Path(__file__).parents[1] / "data" / "schedule.csv"',
        "redis://127.0.0.1:6379/0",
        "postgres://postgres@127.0.0.1:5432/postgres",
    ]:
        assert not OUTSIDE.search(good), good


def test_the_golden_schedule_is_in_the_repository() -> None:
    assert (ROOT / "tests" / "data" / "release_schedule_200pts_15pct.csv").is_file()
    assert (ROOT / "docs" / "rules.md").is_file()
