"""Run one benchmark for two versions of the code, back to back, and give the ratios.

    .venv/bin/python bench/before_after.py orders            # before = df0c3a9, after = this tree
    .venv/bin/python bench/before_after.py nearby --pairs 2
    .venv/bin/python bench/before_after.py release --before <ref> --lots 200000

"Before" is a git ref (default: `df0c3a9`, main just before issue 15's reshaping began),
checked out as a detached worktree under the system's temp directory; "after" is this
working tree. Each side runs *its own* copy of the benchmark script against its own
code (the scripts moved with the code), with the same settings, on the same PostgreSQL
and Redis, in this one sitting. The sides alternate within each pair (before first in
odd pairs, after first in even ones) so that a change in the machine's load weighs on
both; the ratio is taken pair by pair, then the median.

Benches and the figure compared (higher is better unless noted):
- `orders`: `bench/orders_vs_pgbench.py` — paid orders/s, and orders/s over pgbench's
  TPC-B tps measured in the same slice (the machine's speed taken out).
- `nearby`: `bench/nearby.py` — nearbyMerchants req/s over the bare GEOSEARCH
  endpoint's in the same run, and the GraphQL server's CPU ms per request (lower is
  better).
  With `--side-by-side`, both versions' servers run at once and one load generator
  drives them in alternating slices seconds apart (`bench/nearby_side_by_side.py`): the
  figure to trust on a machine whose speed drifts.
- `release`: `bench/release_1m.py` — seconds for the first and the second release of
  `--lots` lots (lower is better).

Needs what the benchmarks need (PostgreSQL, Redis, pgbench; see each script). Prints a
Markdown table and writes `bench/results/before_after_<bench>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nearby_side_by_side as side_by_side

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BEFORE = "df0c3a9"


def worktree(ref: str) -> Path:
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short=12", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"points-bench-before-{sha}"
    if not (path / "app").is_dir():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), sha],
            check=True,
            capture_output=True,
        )
    return path


def run_side(bench: str, root: Path, ns: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", delete=False) as tmp:
        out = Path(tmp.name)
    try:
        if bench == "orders":
            cmd = [
                sys.executable,
                str(root / "bench/orders_vs_pgbench.py"),
                "--rounds",
                "1",
                "--seconds",
                str(ns.seconds),
                "--clients",
                str(ns.clients),
                "--out",
                str(out),
            ]
        elif bench == "release":
            cmd = [
                sys.executable,
                str(root / "bench/release_1m.py"),
                "--lots",
                str(ns.lots),
                "--out",
                str(out),
            ]
        else:
            env.update(
                BENCH_DURATION=str(ns.seconds),
                BENCH_MERCHANTS=str(ns.merchants),
                BENCH_ROUNDS="3",
                # one load generator on one address is not the anonymous crowd the
                # per-IP budget is for; both sides run without it
                RATE_LIMITS_ENABLED="0",
            )
            cmd = [sys.executable, str(root / "bench/nearby.py")]
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{bench} failed in {root}:\n{proc.stderr[-4000:]}")
        wall = round(time.monotonic() - started, 1)
        if bench == "nearby":
            data = json.loads((root / "bench/results/nearby.json").read_text())
        else:
            data = json.loads(out.read_text().strip().splitlines()[-1])
    finally:
        out.unlink(missing_ok=True)
    return {**figures(bench, data), "wall_s": wall}


def figures(bench: str, data: dict[str, Any]) -> dict[str, float]:
    if bench == "orders":
        return {
            "paid_orders_per_s": data["paid_orders_per_s"],
            "pgbench_tps": data["pgbench_tps"],
            "orders_over_pgbench": data["ratio"],
        }
    if bench == "release":
        return {
            "first_release_s": data["first_release"]["seconds"],
            "second_release_s": data["second_release"]["seconds"],
            "bare_insert_s": data["bare_insert_s"],
        }
    full = data["results"]["nearbyMerchants (GraphQL)"]
    return {
        "graphql_rps": full["rps"],
        "graphql_over_bare": data["ratio_rps"],
        "graphql_cpu_ms_per_request": full["server_cpu_ms_per_request"],
    }


LOWER_IS_BETTER = {
    "first_release_s",
    "second_release_s",
    "bare_insert_s",
    "graphql_cpu_ms_per_request",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", choices=["orders", "nearby", "release"])
    ap.add_argument("--before", default=DEFAULT_BEFORE, help="git ref of the code before")
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=15, help="orders/nearby measured window")
    ap.add_argument("--clients", type=int, default=8, help="orders: concurrent clients")
    ap.add_argument("--merchants", type=int, default=60_000, help="nearby: merchants seeded")
    ap.add_argument("--lots", type=int, default=200_000, help="release: lots released")
    ap.add_argument(
        "--side-by-side",
        action="store_true",
        help="nearby: both servers up at once, alternating slices (--rounds, --slice)",
    )
    ap.add_argument("--rounds", type=int, default=10, help="nearby --side-by-side: rounds")
    ap.add_argument("--slice", type=float, default=3.0, help="nearby --side-by-side: seconds")
    ns = ap.parse_args()

    before = worktree(ns.before)
    if ns.bench == "nearby" and ns.side_by_side:
        return side_by_side.main_for(before, ROOT, ns.rounds, ns.slice)
    sides = {"before": before, "after": ROOT}
    pairs: list[dict[str, dict[str, Any]]] = []
    for i in range(ns.pairs):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        pair: dict[str, dict[str, Any]] = {}
        for side in order:
            pair[side] = run_side(ns.bench, sides[side], ns)
            print(f"pair {i + 1} {side}: {pair[side]}", file=sys.stderr, flush=True)
        pairs.append(pair)

    keys = [k for k in pairs[0]["after"] if k != "wall_s"]
    ratios = {
        k: statistics.median(p["after"][k] / p["before"][k] for p in pairs if p["before"][k])
        for k in keys
    }
    result = {
        "bench": ns.bench,
        "before": ns.before,
        "after": "working tree",
        "settings": {k: v for k, v in vars(ns).items() if k not in ("bench", "before")},
        "pairs": pairs,
        "ratio_after_over_before": {k: round(v, 3) for k, v in ratios.items()},
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (ROOT / "bench/results").mkdir(parents=True, exist_ok=True)
    (ROOT / f"bench/results/before_after_{ns.bench}.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    print(
        f"\n| figure | {' | '.join(f'pair {i + 1} before / after' for i in range(ns.pairs))} "
        "| median after/before |"
    )
    print("|---|" + "---|" * ns.pairs + "---|")
    for k in keys:
        cells = " | ".join(f"{p['before'][k]} / {p['after'][k]}" for p in pairs)
        better = "lower is better" if k in LOWER_IS_BETTER else "higher is better"
        print(f"| {k} ({better}) | {cells} | {ratios[k]:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
