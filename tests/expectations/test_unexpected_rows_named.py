"""A failed unexpected-rows expectation names what is wrong (issue 16), not only how many rows.

GX validates with result_format BASIC, which reports an unexpected-rows check's count only; the
runner then reads a few of the failed check's rows itself. These tests corrupt copies of the seeded
template and read the failure text as the CLI, the JSON output and the Prefect rows show it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from db.local.cluster import LocalCluster
from expectations.runner import run_suites
from expectations.spec import SHOWN_ROWS
from tests.conftest import drop_database
from tests.support.seeded import clone_template

COLUMNS_CHECK = "columns match the master file"
# One undeclared column, one declared column gone: two rows, in the order they are shown.
ADDED_AND_DROPPED = [
    "ALTER TABLE public.listener_events ADD COLUMN extra_col text",
    "ALTER TABLE public.podcasts DROP COLUMN image_url",
]
EXTRA_COLUMNS = 7  # more than are shown


@contextmanager
def _corrupted(pg_cluster: LocalCluster, statements: list[str]) -> Iterator[str]:
    url = clone_template(pg_cluster)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]  # the test's own SQL
        yield url
    finally:
        drop_database(pg_cluster, url)


def _failed_rows(pg_cluster: LocalCluster, statements: list[str]) -> list[dict[str, Any]]:
    with _corrupted(pg_cluster, statements) as url:
        return run_suites(url, suites=["table_shape"], build_docs=False).failed_rows()


def test_a_failed_column_check_names_each_table_column_and_its_problem(pg_cluster: LocalCluster) -> None:
    (row,) = _failed_rows(pg_cluster, ADDED_AND_DROPPED)
    assert row["expectation"] == COLUMNS_CHECK
    assert row["observed_value"] == (
        "2 unexpected rows: listener_events.extra_col (not in the master file); podcasts.image_url (missing)"
    ), row
    assert row["unexpected_count"] == 2


def test_only_a_few_rows_are_shown_and_the_rest_are_counted(pg_cluster: LocalCluster) -> None:
    added = [f"ALTER TABLE public.sponsors ADD COLUMN extra_{i} text" for i in range(EXTRA_COLUMNS)]
    (row,) = _failed_rows(pg_cluster, added)
    observed = str(row["observed_value"])
    shown = [f"sponsors.extra_{i} (not in the master file)" for i in range(SHOWN_ROWS)]
    assert observed == (
        f"{EXTRA_COLUMNS} unexpected rows: {'; '.join(shown)} and {EXTRA_COLUMNS - SHOWN_ROWS} more"
    ), row
    assert f"extra_{SHOWN_ROWS}" not in observed
    assert row["unexpected_count"] == EXTRA_COLUMNS


def test_the_verify_artifact_row_names_them_too(pg_cluster: LocalCluster) -> None:
    """The verify task's table (the Prefect artifact, and the CheckFailed message) says what failed."""
    from tasks.verify import expectation_rows  # imports Prefect

    with _corrupted(pg_cluster, ADDED_AND_DROPPED) as url:
        rows = {r.name: r for r in expectation_rows(url)}
    failed = {name for name, r in rows.items() if r.status == "fail"}
    assert failed == {"expectations: table_shape"}, rows
    detail = rows["expectations: table_shape"].detail
    assert "listener_events.extra_col (not in the master file)" in detail, detail
    assert "podcasts.image_url (missing)" in detail, detail
