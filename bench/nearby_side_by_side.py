"""nearbyMerchants for two versions of the code, both servers up at once, in alternating slices.

    .venv/bin/python bench/before_after.py nearby --side-by-side     # the usual way in
    .venv/bin/python bench/nearby_side_by_side.py BEFORE_TREE AFTER_TREE

`before_after.py nearby` runs each side's own `bench/nearby.py` in turn: each side
seeds, then measures for a minute and a half, so the two sides are measured minutes
apart, and on a shared 2-core machine the speed drifts by a quarter within that (pairs
of the same code disagreed by 1.25×). Here each side seeds its own database with its
own `bench/nearby.py` (`seed()`, the same 60,000 merchants from the same random seed),
then one uvicorn server per side (and this tree's bare GEOSEARCH endpoint) run at the
same time with the settings `bench/nearby.py` gives them, and one load generator
drives them in turn, `--slice` seconds each, for `--rounds` rounds (the order of the
sides alternating), so a drift in the machine's speed weighs on every side alike. A
round's ratio compares slices seconds apart; the median of the rounds is reported.

The before side's database and Redis database are its own (`--redis-dbs`, default 1
and 2 of the local server: only their `bench:geo:v1:*` keys are replaced); both
databases are dropped at the end. Prints a Markdown table and writes
`bench/results/nearby_side_by_side.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("nearby_bench", ROOT / "bench/nearby.py")
assert _spec is not None and _spec.loader is not None
nb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nb)

# Seeds one side's database with that side's own bench/nearby.py.
_SEED = """
import asyncio, importlib.util, os, sys
spec = importlib.util.spec_from_file_location("nb", os.path.join(os.getcwd(), "bench/nearby.py"))
nb = importlib.util.module_from_spec(spec); spec.loader.exec_module(nb)
nb.DB_NAME = sys.argv[1]
asyncio.run(nb.seed())
"""


def _redis_url(base: str, db: int) -> str:
    return base.rsplit("/", 1)[0] + f"/{db}"


def _env(root: Path, db_name: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "DATABASE_URL": nb._db_url(db_name),
        "REDIS_URL": redis_url,
        "BENCH_REDIS": redis_url,
        "APP_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "GEO_KEY_PREFIX": nb.KEY_PREFIX,
        # one load generator on one address is not the anonymous crowd the per-IP
        # budget is for; every side runs without it (as before_after.py nearby)
        "RATE_LIMITS_ENABLED": "0",
    }


def seed(sides: dict[str, Path], envs: dict[str, dict[str, str]], dbs: dict[str, str]) -> None:
    """Each side's database, seeded by that side's own bench/nearby.py."""
    for name, root in sides.items():
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", _SEED, dbs[name]],
            cwd=root,
            env=envs[name],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"{name}: seeded in {time.perf_counter() - t:.0f} s", file=sys.stderr)


async def measure(
    sides: dict[str, Path], envs: dict[str, dict[str, str]], rounds: int, slice_s: float
) -> list[dict[str, dict[str, float]]]:
    """Every side's server and the bare endpoint up at once, driven in turn."""
    targets = [(name, "app.main:app", "/graphql", root) for name, root in sides.items()]
    targets.append(("bare", "bench.nearby_bare:app", "/nearby", ROOT))
    last = list(sides)[-1]  # the bare endpoint reads the after side's index
    ports = {name: 18800 + i for i, (name, *_) in enumerate(targets)}
    procs = {
        name: nb._serve(app, ports[name], envs[last if name == "bare" else name], root)
        for name, app, _, root in targets
    }
    rng = random.Random(7)
    points = [nb._point(rng, nb.QUERY_HALF_SIDE_M) for _ in range(5000)]
    bodies = {
        "/graphql": [
            json.dumps(
                {
                    "query": nb.QUERY,
                    "variables": {"loc": {"lat": a, "lng": b, "coordSystem": "GCJ02"}},
                }
            ).encode()
            for a, b in points
        ],
        "/nearby": [json.dumps({"lat": a, "lng": b, "first": 20}).encode() for a, b in points],
    }
    slices: list[dict[str, dict[str, float]]] = []
    try:
        for port in ports.values():
            await nb._wait_up(port)
        for rnd in range(rounds):
            got: dict[str, dict[str, float]] = {}
            for name, _, path, _ in targets if rnd % 2 == 0 else targets[::-1]:
                await nb.load(ports[name], path, bodies[path], 0.0, 3.0 if rnd == 0 else 0.5, [])
                lat: list[float] = []
                c0 = nb._cpu_s(procs[name].pid)
                await nb.load(ports[name], path, bodies[path], slice_s, 0.0, lat)
                cpu = nb._cpu_s(procs[name].pid) - c0
                got[name] = {
                    "rps": round(len(lat) / slice_s, 1),
                    "cpu_ms_per_request": round(cpu / max(len(lat), 1) * 1000, 3),
                }
            slices.append(got)
            print(f"round {rnd + 1}: {got}", file=sys.stderr, flush=True)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=10)
    return slices


async def _drop(dbs: dict[str, str]) -> None:
    for db in dbs.values():
        await nb._admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def ratios(slices: list[dict[str, dict[str, float]]], before: str, after: str) -> dict[str, float]:
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    return {
        "rps": med([s[after]["rps"] / s[before]["rps"] for s in slices]),
        "cpu_ms_per_request": med(
            [s[after]["cpu_ms_per_request"] / s[before]["cpu_ms_per_request"] for s in slices]
        ),
        f"{before}_over_bare": med([s[before]["rps"] / s["bare"]["rps"] for s in slices]),
        f"{after}_over_bare": med([s[after]["rps"] / s["bare"]["rps"] for s in slices]),
    }


def report(result: dict[str, Any], before: str = "before", after: str = "after") -> None:
    slices = result["rounds"]
    print(
        f"\n| round | {before} req/s | {after} req/s | bare req/s "
        f"| {before} / {after} CPU ms per request |"
    )
    print("|---|---|---|---|---|")
    for i, s in enumerate(slices, 1):
        print(
            f"| {i} | {s[before]['rps']} | {s[after]['rps']} | {s['bare']['rps']} | "
            f"{s[before]['cpu_ms_per_request']} / {s[after]['cpu_ms_per_request']} |"
        )
    print(f"\nmedian of the rounds: {json.dumps(result['ratio_after_over_before'])}")


def main_for(
    before: Path,
    after: Path,
    rounds: int = 10,
    slice_s: float = 3.0,
    redis: str = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0"),
    redis_dbs: str = "1,2",
) -> int:
    sides = {"before": before, "after": after}
    tag = f"{int(time.time())}_{os.getpid()}"
    dbs = {name: f"bench_nearby_{name}_{tag}" for name in sides}
    numbers = [int(x) for x in redis_dbs.split(",")]
    envs = {
        name: _env(root, dbs[name], _redis_url(redis, numbers[i]))
        for i, (name, root) in enumerate(sides.items())
    }
    try:
        seed(sides, envs, dbs)
        result: dict[str, Any] = {"rounds": asyncio.run(measure(sides, envs, rounds, slice_s))}
    finally:
        asyncio.run(_drop(dbs))
    result["ratio_after_over_before"] = ratios(result["rounds"], "before", "after")
    result["settings"] = {
        "before": str(before),
        "after": str(after),
        "rounds": rounds,
        "slice_s": slice_s,
        "merchants": nb.N_MERCHANTS,
        "concurrency": nb.CONCURRENCY,
    }
    result["at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    (ROOT / "bench/results").mkdir(parents=True, exist_ok=True)
    out = ROOT / "bench/results/nearby_side_by_side.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    report(result)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--slice", type=float, default=3.0, help="seconds per server per round")
    ap.add_argument("--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--redis-dbs", default="1,2", help="Redis databases of the two sides")
    ns = ap.parse_args()
    return main_for(ns.before, ns.after, ns.rounds, ns.slice, ns.redis, ns.redis_dbs)


if __name__ == "__main__":
    raise SystemExit(main())
