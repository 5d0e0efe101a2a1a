"""The GraphQL-over-HTTP spec's own server audit (npm `graphql-http`, its
`serverAudits`) against the real server: no warnings, no errors. Node is on every
machine that runs the suite; the audit's packages come from the npm registry, pinned
by scripts/graphql-http-audit/package-lock.json."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.live_server import live_server

AUDIT = Path(__file__).resolve().parents[2] / "scripts" / "graphql-http-audit"


def _node_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, (
        "node and npm are needed for the graphql-http audit (apt-get install nodejs npm)"
    )
    if not (AUDIT / "node_modules" / "graphql-http").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=AUDIT, check=True, timeout=300
        )
    return node, npm


async def test_graphql_http_audit_passes_without_warnings(db):
    node, _ = _node_tools()
    with live_server() as base:
        run = subprocess.run(  # noqa: ASYNC221 - the audit's own process, on purpose
            [node, "audit.mjs", f"{base}/graphql"],
            cwd=AUDIT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    print(run.stdout)  # (the audit's report, for `pytest -s`)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.rstrip().endswith(" ok, 0 warnings, 0 errors"), run.stdout
