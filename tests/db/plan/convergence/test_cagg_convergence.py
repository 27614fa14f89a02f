"""Continuous aggregates converge too: the planner's pure function, proved in the TSL lane.

The lane (PGlite with TimescaleDB's TSL license) is one database with no room for a scratch copy, so
the CLI's drift cannot run there. Per pair (tsl_pairs/<NN_slug>/): build B and snapshot it, reset,
build A (with rows) and snapshot it, check the snapshots differ exactly as expected.json says, run
`plan_changes(B, A)` rendered by render_script with psql, snapshot again: it must equal B's, and the
hypertable's rows must be unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pglast
import psycopg
import pytest

from db.catalog.drift import DRIFT_SCHEMAS
from db.catalog.snapshot import Snapshot, snapshot_catalog
from db.plan.differences import diff_catalogs
from db.plan.render import render_script
from tests.db.plan.convergence import harness as h
from tests.support.pglite import PgliteServer

TSL_PAIRS = [h.load_pair(folder) for folder in sorted(Path(__file__).with_name("tsl_pairs").iterdir())]


def build(url: str, script: Path) -> None:
    """Run a pair's file one statement at a time in autocommit, the way psql -f does."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        for statement in pglast.split(script.read_text()):
            conn.execute(statement)  # type: ignore[arg-type]  # trusted test SQL, no parameters


def current_role(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]


def snapshot(url: str, role: str) -> Snapshot:
    """The live side as drift reads it: every user schema, the migrating role's ownership normalised."""
    with psycopg.connect(url, autocommit=True) as conn:
        return snapshot_catalog(conn, DRIFT_SCHEMAS, migrating_role=role)


def plan_changes_or_fail():  # type: ignore[no-untyped-def]
    try:
        from db.plan.planner import plan_changes
    except ImportError as exc:
        pytest.fail(f"the planner's pure function db.plan.planner.plan_changes is not there yet: {exc}")
    return plan_changes


@pytest.mark.slow
@pytest.mark.tsl
@pytest.mark.timeout(300)
@pytest.mark.parametrize("pair", TSL_PAIRS, ids=[p.id for p in TSL_PAIRS])
def test_cagg_pair_converges(pair: h.Pair, tsl_url: str, pglite_server: PgliteServer, tmp_path: Path) -> None:
    plan_changes = plan_changes_or_fail()
    role = current_role(tsl_url)
    build(tsl_url, pair.b_sql)
    expected = snapshot(tsl_url, role)
    pglite_server.reset()
    build(tsl_url, pair.a_sql)
    actual = snapshot(tsl_url, role)
    before = h.table_rows(tsl_url)

    found = {(d.kind, d.status, d.name): d.as_dict() for d in diff_catalogs(expected, actual)}
    missing, extra = pair.differences - found.keys(), found.keys() - pair.differences
    assert not missing and not extra, (
        f"the snapshots differ otherwise than expected ({pair.about})\n"
        f"expected but not found:\n{h.describe(found, missing)}\n"
        f"found but not expected:\n{h.describe(found, extra)}"
    )

    plan = plan_changes(expected, actual, migrating_role=role)
    assert not plan.is_empty, "the snapshots differ but the plan has no steps"
    script = tmp_path / "plan.sql"
    script.write_text(render_script(plan))
    applied = h.run_psql(tsl_url, script)
    assert applied.returncode == 0, (
        f"the plan fails under psql -v ON_ERROR_STOP=1:\n{applied.stderr}\n"
        f"--- script ---\n{script.read_text()}"
    )

    left = {(d.kind, d.status, d.name): d.as_dict() for d in diff_catalogs(expected, snapshot(tsl_url, role))}
    assert not left, (
        f"after the plan the lane still differs from B:\n{h.describe(left, set(left))}\n"
        f"--- script that was applied ---\n{script.read_text()}"
    )
    problems, compared = h.compare_rows(before, h.table_rows(tsl_url), pair.renames)
    assert not problems, "rows changed:\n" + "\n".join(problems)
    assert compared > 0, "no rows were compared: the pair's A inserts none"
