"""A changed index on a table with rows is built anew before the old one goes: never a gap."""

from __future__ import annotations

import psycopg
import pytest

from db.catalog.drift import check_drift
from tests.db.plan.convergence.harness import PAIRS_DIR
from tests.db.plan.support import converge


@pytest.mark.slow
@pytest.mark.parametrize("pair", ["65_index_replaced_build_first", "66_hypertable_index_replaced"])
def test_the_new_definition_is_built_before_the_old_index_is_dropped(db_url: str, pair: str) -> None:
    folder = PAIRS_DIR / pair
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute((folder / "a.sql").read_text())  # type: ignore[arg-type]  # trusted test SQL
    wanted = (folder / "b.sql").read_text()
    plan = check_drift(db_url, schema_sql=wanted).plan
    assert plan is not None
    kinds = [(s.action, s.sql.split(" (")[0]) for s in plan.steps]
    build = next(i for i, s in enumerate(plan.steps) if s.action == "create" and "_schemaflow_new" in s.sql)
    drop = next(i for i, s in enumerate(plan.steps) if s.action == "drop")
    rename = next(i for i, s in enumerate(plan.steps) if s.action == "rename")
    assert build < drop < rename, kinds
    assert not plan.steps[build].transactional, "the replacement is built online (outside the transaction)"
    _, second, _ = converge(db_url, wanted)
    assert not second.has_drift, second.differences
