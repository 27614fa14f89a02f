"""SF102/SF103 look inside a statement: set_config(), RESET, SET TO DEFAULT and DO blocks.

The run re-applies the environment's timeouts between statements, so what one statement does to them
inside itself (a DO block that SETs lock_timeout = 0 and then locks a table) is only caught here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from db.versions.files import MigrationFile
from db.versions.lint import destroys_unacknowledged
from db.versions.lock_rules import lock_findings

LIMITS = {"lock_timeout": "2s", "statement_timeout": "60s"}
DO_BLOCK = """DO $$
BEGIN
  SET lock_timeout = 0;
  LOCK TABLE public.podcasts;
  PERFORM set_config('statement_timeout', '0', true);
  EXECUTE 'LOCK TABLE public.episodes';
  PERFORM pg_sleep(25);
END $$;
"""


def _one_off(sql: str, header: str = "") -> MigrationFile:
    return MigrationFile(
        "20261207000000",
        "x",
        Path("/m/20261207000000_x.sql"),
        header + sql,
        sql,
        None,
        locks_acknowledged="reviewed" if header else "",
    )


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT set_config('lock_timeout', '0', false);", "set_config('lock_timeout', ...) = 0 (no limit)"),
        ("SELECT set_config('statement_timeout', '10min', false);", "above the environment's 60s"),
        ("RESET lock_timeout;", "RESET lock_timeout (back to the role's or server's default"),
        ("RESET ALL;", "RESET ALL (drops the environment's timeouts)"),
        ("SET statement_timeout TO DEFAULT;", "SET ... TO DEFAULT on statement_timeout"),
    ],
)
def test_a_timeout_lifted_without_a_set_statement_is_sf102(sql: str, expected: str) -> None:
    found = lock_findings(_one_off(sql), LIMITS)
    assert [(line, rule) for line, rule, _ in found] == [(1, "SF102")]
    assert expected in found[0][2]


def test_a_do_block_that_lifts_its_timeouts_and_locks_is_found_statement_by_statement_with_lines() -> None:
    found = lock_findings(_one_off(DO_BLOCK), LIMITS)
    assert [(line, rule) for line, rule, _ in found] == [
        (3, "SF102"),
        (4, "SF103"),
        (5, "SF102"),
        (6, "SF103"),
    ]
    assert "LOCK public.episodes IN ACCESS EXCLUSIVE MODE" in found[3][2]
    assert (
        lock_findings(_one_off(DO_BLOCK, header="-- schemaflow: locks acknowledged: reviewed\n"), LIMITS)
        == []
    )


def test_limits_within_the_environment_s_and_weaker_locks_pass() -> None:
    sql = "SELECT set_config('lock_timeout', '500ms', false);\nLOCK TABLE public.podcasts IN SHARE MODE;\n"
    assert lock_findings(_one_off(sql), LIMITS) == []
    assert lock_findings(_one_off("DO $$ BEGIN PERFORM 1; END $$;"), LIMITS) == []


def test_a_delete_inside_a_do_block_needs_the_destroys_data_acknowledgement() -> None:
    found = destroys_unacknowledged(_one_off("DO $$\nBEGIN\n  DELETE FROM public.podcasts;\nEND $$;\n"))
    assert [(x.line, x.rule, x.message) for x in found] == [(3, "SF101", "DELETE without an acknowledgement")]
