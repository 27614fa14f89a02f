"""The planner's acceptance suite: for every schema pair, drift is exact and its --sql converges.

Per pair (pairs/<NN_slug>/), on a fresh database of the TimescaleDB cluster (and, for LANE_PAIRS, of
each PostgreSQL 16, 17 and 18 lane in plain mode; a pair of a newer server's feature skips on older
ones with the reason, and a known gap on one major is a strict xfail there):
1. psql builds state A (with rows); the rows of every table are read.
2. Drift against b.sql reports exactly expected.json's differences (no more, no fewer), and leaves the
   cluster's roles as they were (drift suggests; it never applies).
3. Drift's --sql script is saved and run with `psql -v ON_ERROR_STOP=1 -f`: it must succeed, and an
   expected rename must be a RENAME, never a DROP; a drop of rows stays out of it and out of
   `schemaflow plan` (which tags it destroys_data under --allow-destroy).
4. A second drift reports nothing (or only the differences whose fix would destroy data).
5. The rows of every table present on both sides are unchanged (checksums over the shared columns).
6. `pg_dump --schema-only` of the migrated database equals that of a database built straight from b.sql
   (TimescaleDB's chunks aside: they hold data), unless a drop of rows was withheld.

Where drift runs: the CLI subset (`CLI_PAIRS`: every pair with a rename or a destroys_data difference,
plus 01_table_add and 50_hypertable_create) goes end to end through the installed command, a process
per call: `schemaflow drift --json` in steps 2 and 4, `drift --sql` in step 3 and `plan --json` (with
and without --allow-destroy) for the destroys_data pairs. Every other pair calls the function the CLI
calls, `check_drift(url, schema_sql=b.sql)`, in this process: `as_dict()` is what `--json` prints,
the CLI's own `render_script` gives the `--sql` script of that same report (the database is unchanged
between steps 2 and 3), and the exit code is the CLI's rule. A process spawn costs more than the check
itself; the assertions are the same for every pair either way. psql stays the path for A and for the
script in both.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import psycopg
import pytest

from tests.db.plan.convergence import harness as h
from tests.support.pg_lanes import LANES

PAIRS = h.load_pairs()
# The PostgreSQL 16-18 lanes run in plain mode: the pairs that need TimescaleDB are not collected there.
# The whole suite takes about 7 s a pair on this machine (about 10 minutes a lane), over the lanes'
# share of `make test`; by default a lane runs the pairs whose catalog moved since 15 (NOT NULL and
# generated columns in 18, aclitem's MAINTAIN in 17, role memberships in 16, inheritance and
# partitions) and the 18-only ones. SCHEMAFLOW_LANE_PAIRS=all runs every plain pair on every lane.
LANE_SUBSET = (
    "07_not_null_set", "08_drop_key_and_not_null", "11_generated_expression", "32_grants",
    "35_default_privileges", "38_role_membership", "41_inheritance", "42_partition_add",
    "48_rename_table", "87_spelling_generated_and_default",
)  # fmt: skip
LANE_PAIRS = [
    p
    for p in PAIRS
    if not p.timescaledb
    and (os.environ.get("SCHEMAFLOW_LANE_PAIRS") == "all" or p.id in LANE_SUBSET or p.min_server_major)
]
# The pairs whose drift goes through the installed command (module docstring); a destroys_data pair
# is always one of them, so `schemaflow plan --json` keeps running end to end.
CLI_PAIRS = frozenset(
    p.id for p in PAIRS if p.renamed or p.destroys_data or p.id in ("01_table_add", "50_hypertable_create")
)


def test_the_cli_subset_covers_json_sql_and_plan() -> None:
    """Some pairs of each kind keep the CLI's --json, --sql and plan --json covered end to end."""
    chosen = [p for p in PAIRS if p.id in CLI_PAIRS]
    assert {"01_table_add", "50_hypertable_create"} <= CLI_PAIRS, sorted(CLI_PAIRS)
    assert any(p.renamed for p in chosen) and any(p.destroys_data for p in chosen), sorted(CLI_PAIRS)


def test_the_lane_subset_names_existing_plain_pairs() -> None:
    """A renamed or removed pair must not silently leave the lanes' subset."""
    plain = {p.id for p in PAIRS if not p.timescaledb}
    assert set(LANE_SUBSET) <= plain, sorted(set(LANE_SUBSET) - plain)


def test_the_suite_has_at_least_30_pairs() -> None:
    assert len(PAIRS) >= 30, [p.id for p in PAIRS]


@pytest.mark.slow
def test_every_pair_applies_and_its_file_is_idempotent(db_url: str) -> None:
    """a.sql applies to an empty database; b.sql applies twice in a row (like the master file)."""
    failures = []
    for pair in PAIRS:
        if pair.unsupported_reason(db_url):
            continue  # a newer server's feature: its lane applies it (test_pair_converges_on_lane)
        for label, texts in (("a.sql", [pair.a_sql]), ("b.sql twice", [pair.b_sql, pair.b_sql])):
            # A connection each: once a backend has loaded TimescaleDB, a rolled-back CREATE EXTENSION
            # cannot be repeated in it.
            with psycopg.connect(db_url, autocommit=True) as conn:
                try:
                    with conn.transaction(force_rollback=True):
                        for text in texts:
                            conn.execute(text.read_text())  # type: ignore[arg-type]  # trusted test SQL
                except psycopg.Error as exc:
                    failures.append(f"{pair.id} {label}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("pair", PAIRS, ids=[p.id for p in PAIRS])
def test_pair_converges(pair: h.Pair, db_url: str, tmp_path: Path) -> None:
    skip_unsupported(pair, db_url)
    try:
        converge(pair, db_url, tmp_path)
    finally:
        h.drop_pair_roles(db_url, pair.role_prefix)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("pair", LANE_PAIRS, ids=[p.id for p in LANE_PAIRS])
@pytest.mark.parametrize("lane_url", LANES, indirect=True)
def test_pair_converges_on_lane(
    pair: h.Pair, lane_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The same suite on PostgreSQL 16, 17 and 18 (plain mode), with PostgreSQL 18's pg_dump."""
    skip_unsupported(pair, lane_url)
    gap = pair.known_gaps.get(str(h.server_major(lane_url))) if pair.known_gaps else None
    if gap:  # strict: the day the plan converges there, the gap must leave expected.json
        request.applymarker(pytest.mark.xfail(reason=f"known gap: {gap}", strict=True))
    try:
        converge(pair, lane_url, tmp_path)
    finally:
        h.drop_pair_roles(lane_url, pair.role_prefix)


def skip_unsupported(pair: h.Pair, url: str) -> None:
    reason = pair.unsupported_reason(url)
    if reason:
        print(f"SKIP {reason}")
        pytest.skip(reason)


def converge(pair: h.Pair, url: str, tmp_path: Path) -> None:
    via_cli = pair.id in CLI_PAIRS
    built = h.run_psql(url, pair.a_sql)
    assert built.returncode == 0, f"step 1: a.sql does not apply:\n{built.stderr}"
    before = h.table_rows(url)
    roles_before = h.role_facts(url, pair.role_prefix)

    if via_cli:
        code, report = h.drift_report(url, pair.b_sql)
    else:
        code, live = h.drift_in_process(url, pair.b_sql)
        report = live.as_dict()
    got = h.reported(report)
    assert h.role_facts(url, pair.role_prefix) == roles_before, "step 2: drift changed the pair's roles"
    missing, extra = pair.differences - got.keys(), got.keys() - pair.differences
    assert not missing and not extra, (
        f"step 2: drift's differences are not the expected ones ({pair.about})\n"
        f"expected but not reported:\n{h.describe(got, missing)}\n"
        f"reported but not expected:\n{h.describe(got, extra)}"
    )
    if not pair.differences:  # two spellings of one schema: nothing to report, nothing to plan
        assert code == 0, f"step 2: drift found no difference but exited {code}"
        plan = report.get("plan") or {}
        assert not plan.get("steps"), f"step 2: no difference, yet the plan has steps: {plan.get('steps')}"
        return
    assert code == 1, f"step 2: drift found differences but exited {code}"
    wrong_severity = {
        k: (want, got[k]["severity"]) for k, want in pair.severities.items() if got[k]["severity"] != want
    }
    assert not wrong_severity, f"step 2: severity (expected, reported): {wrong_severity}"
    if pair.renamed:
        check_renames_are_inferred(pair, report)

    if via_cli:
        suggested = h.run_drift(url, pair.b_sql, "--sql")
        # Exit 1 is also how an unexpected error ends: an empty script or an error on stderr is a crash.
        crashed = not suggested.stdout.strip() or any(
            mark in suggested.stderr for mark in ("schemaflow: unexpected", "schemaflow: error", "Traceback")
        )
        assert suggested.returncode == 1 and not crashed, (
            f"step 3: drift --sql exited {suggested.returncode}:\n{suggested.stderr}\n{suggested.stdout}"
        )
        text = suggested.stdout
    else:
        text = h.suggested_script(live)  # a crash raises here, with its traceback
        assert text.strip(), "step 3: the suggested script is empty although drift found differences"
    script = tmp_path / "suggested.sql"
    script.write_text(text)
    for kind, _, name in pair.renamed:
        old = {new: old for old, new in pair.renames.items()}.get(name, name)
        assert "RENAME" in text.upper(), f"step 3: no RENAME for {kind} {name}:\n{text}"
        assert not h.script_drops(text, kind, old), (
            f"step 3: the script drops {kind} {old} instead of renaming it:\n{text}"
        )
    for kind, _, name in pair.destroys_data:
        assert not h.script_drops(text, kind, name), (
            f"step 3: the script drops {kind} {name}, which holds rows:\n{text}"
        )
    if pair.destroys_data:
        assert via_cli, "a destroys_data pair must be in CLI_PAIRS (schemaflow plan runs only there)"
        check_destroying_steps_are_withheld(pair, url)
    applied = h.run_psql(url, script)
    assert applied.returncode == 0, (
        f"step 3: the suggested script fails under psql -v ON_ERROR_STOP=1:\n{applied.stderr}\n"
        f"--- script ---\n{text}"
    )

    if via_cli:
        code, report = h.drift_report(url, pair.b_sql)
    else:
        code, live = h.drift_in_process(url, pair.b_sql)
        report = live.as_dict()
    left = h.reported(report)
    assert left.keys() == pair.destroys_data, (
        f"step 4: after the script, drift still reports:\n{h.describe(left, set(left))}\n"
        f"--- script that was applied ---\n{text}"
    )
    assert code == (1 if left else 0), f"step 4: drift exited {code}"

    problems, compared = h.compare_rows(before, h.table_rows(url), pair.renames)
    assert not problems, "step 5: rows changed:\n" + "\n".join(problems)
    if "INSERT INTO" in pair.a_sql.read_text():
        assert compared > 0, "step 5: A inserts rows but none were compared (a table lost its name?)"

    if not pair.destroys_data:  # what a withheld drop keeps is meant to differ
        with h.built_from(url, pair.b_sql) as straight:
            migrated, expected = h.schema_dump(url), h.schema_dump(straight)
        if migrated != expected:
            diff = difflib.unified_diff(
                expected.splitlines(), migrated.splitlines(), "built", "migrated", lineterm=""
            )
            raise AssertionError(
                "step 6: pg_dump --schema-only differs from a database built from the file:\n"
                + "\n".join(list(diff)[:60])
            )


def check_renames_are_inferred(pair: h.Pair, report: dict) -> None:
    """The plan drift computed renames the object (action rename) and its notes say it was inferred."""
    plan = report.get("plan")
    assert plan, "step 2: drift --json carries no plan to show the inferred rename"
    for old, new in pair.renames.items():
        kind = "column" if new.count(".") == 2 else "table"
        steps = [s for s in plan["steps"] if s["action"] == "rename" and s["kind"] == kind]
        assert steps, f"step 2: no rename step for {kind} {old} -> {new}: {plan['steps']}"
        notes = [n for n in plan["notes"] if "inferred" in n and old in n]
        assert notes, f"step 2: the plan's notes do not say the rename of {old} was inferred: {plan['notes']}"


def check_destroying_steps_are_withheld(pair: h.Pair, url: str) -> None:
    """`schemaflow plan` leaves a drop of rows out and says so; --allow-destroy tags it destroys_data."""
    plan = h.plan_report(url, pair.b_sql)
    allowed = h.plan_report(url, pair.b_sql, "--allow-destroy")
    for kind, _, name in pair.destroys_data:
        assert not [s for s in plan["steps"] if (s["kind"], s["name"]) == (kind, name)], (
            f"step 3: the plan has a step for {kind} {name} although it would destroy rows: {plan['steps']}"
        )
        assert any(name in note for note in plan["notes"]), f"step 3: no note about {name}: {plan['notes']}"
        tagged = [
            s
            for s in allowed["steps"]
            if (s["kind"], s["name"]) == (kind, name) and "destroys_data" in s["hazards"]
        ]
        assert tagged, f"step 3: with --allow-destroy, no step for {kind} {name} is tagged destroys_data"
