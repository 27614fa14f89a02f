"""Benchmark: what proving a plan costs, against `plan_database` without the proof on the same database.

Run by hand: `.venv/bin/python benchmarks/bench_plan_proof.py [--runs N]`. Starts its own throwaway
PostgreSQL 15 + TimescaleDB cluster, migrates a database from the master file, then times (median of
N runs, the two variants interleaved so a loaded machine slows both alike):
- steady state (the database equals the file): the proof is trivial, nothing is built;
- after bench_plan.py's six hand changes: the proof copies the whole live catalog into the scratch
  database, applies the plan there and compares (db/plan/proof.py).
Each proven run starts with the process's proofs forgotten; the same plan once more in the same
process (what a migrate that plans again after its approval pays) is timed on its own.
Prints each ratio proven / unproven, the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from benchmarks.bench_plan import HAND_CHANGES
from benchmarks.support import throwaway_cluster
from db.catalog.drift import compare_sides
from db.deploy.apply import apply_master_schema
from db.plan import proof as proof_module
from db.plan.database import plan_database
from db.plan.planner import plan_changes
from db.plan.proof import prove_plan
from db.schema.master_file import read_schema


def compare(label: str, runs: int, url: str, text: str) -> tuple[float, float]:
    samples: dict[bool, list[float]] = {False: [], True: []}
    plan = None
    for _ in range(runs):
        for prove in (False, True):
            proof_module._PROVEN.clear()  # every run proves anew: the cache is timed on its own below
            started = time.perf_counter()
            plan = plan_database(url, text, prove=prove)
            samples[prove].append(time.perf_counter() - started)
    assert plan is not None
    without, with_proof = (statistics.median(samples[p]) for p in (False, True))
    print(f"{label} ({len(plan.steps)} steps; {plan.proof or 'no proof'})")
    for prove, name in ((False, "plan_database without the proof (baseline)"), (True, "with the proof")):
        shown = ", ".join(f"{s:.3f}" for s in samples[prove])
        print(f"  {name:<44} median {statistics.median(samples[prove]):7.3f} s  (runs: {shown})")
    print(f"  proof adds {with_proof - without:.3f} s: {with_proof / without:.2f}x the unproven plan")
    started = time.perf_counter()
    plan_database(url, text)  # the last run's proof is kept: the same inputs again
    cached = time.perf_counter() - started
    print(f"  again in the same process (proof kept)      {cached:7.3f} s: {cached / without:.2f}x")
    return without, with_proof


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with throwaway_cluster("proof") as cluster:
        url = cluster.url()
        text = read_schema()
        apply_master_schema(url, text, environment="bench")
        print(f"plan_database of the full master schema, with and without the proof ({args.runs} runs each)")
        compare("steady state", args.runs, url, text)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(HAND_CHANGES)  # type: ignore[arg-type]
        compare("after six hand changes", args.runs, url, text)
        sides = compare_sides(url, schema_sql=text)
        plan = plan_changes(
            sides.expected, sides.actual, migrating_role=sides.migrating_role, sizes=sides.sizes
        )
        assert sides.site and sides.capabilities
        proof = prove_plan(
            plan, expected=sides.expected, live=sides.actual, site=sides.site, view=sides.view,
            target=sides.capabilities, migrating_role=sides.migrating_role,
        )  # fmt: skip
        print(f"  the proof's stages ({proof.statements} statements run in the scratch database):")
        for stage, seconds in proof.timings.items():
            print(f"    {stage:<42} {seconds:7.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
