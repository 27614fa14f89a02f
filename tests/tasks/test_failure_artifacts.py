"""What a person reads when a run fails, and how runs are named: pure functions, no server needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.deploy.check_result import CheckResult
from tasks.naming import run_kind, run_name, run_tags
from tasks.notify import render_failure_markdown, step_action
from tasks.reporting import RunReport, artifact_key, check_rows

LONG = "preflight failed for production: blocking transactions (pid 4242 has held " + "x" * 300 + ")"


@pytest.fixture
def environments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "environments.toml"
    path.write_text(
        '[environments.production]\nsecret_block = "schemaflow-production-database-url"\n'
        'require_approval = true\napproval_timeout = "15min"\n'
    )
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))


def test_the_message_wraps_and_is_whole(environments: None) -> None:
    text = render_failure_markdown("migrate", "migrate-production-apply-db-1a2b3c", "production", LONG)
    assert "```" not in text  # a code block does not wrap in the UI and cut the message off
    assert f"> {LONG}" in text


@pytest.mark.usefixtures("environments")
@pytest.mark.parametrize(
    ("step", "names"),
    [
        ("target", ["Secret block `schemaflow-production-database-url`", "Blocks"]),
        ("preflight", ["marked FAIL", "migrate-production-preflight"]),
        ("approval", ["migrate-production-plan", "choose approve in its form within 15min"]),
        ("apply", ["rolled back", "end the session holding the lock"]),
        ("verify", ["WAS applied", "migrate-production-verify"]),
    ],
)
def test_what_to_do_names_the_action_for_the_step_that_failed(step: str, names: list[str]) -> None:
    lines = step_action(step, "production", hint="SELECT pg_terminate_backend(4242)")
    for name in names:
        assert name in lines[0], (step, lines)
    assert lines[1] == "- From the check: SELECT pg_terminate_backend(4242)"
    assert "--" not in lines[0]  # a UI user is not told a CLI flag


def test_a_failing_preflight_row_stands_out() -> None:
    rows = [
        CheckResult("server reachable", "pass", "connected within 10 s"),
        CheckResult("blocking transactions", "fail", "pid 4242 holds a lock for 31 s", "end it: ..."),
        CheckResult("confirmation", "pass", "not required"),
    ]
    report = RunReport(environment="production", target="postgresql://app@db/x", preflight=rows)
    text = report.to_markdown()
    callout = text.index("**✗ FAILED: blocking transactions**")
    assert callout < text.index("| status | check | detail |")  # above the table, not lost in it
    assert "what to do: end it: ..." in text
    assert [r["!"] for r in check_rows(rows)] == ["", "✗ FAIL", ""]


def test_runs_are_named_by_environment_kind_host_and_id() -> None:
    assert run_kind({"dry_run": True}) == "dry-run"
    assert run_kind({"plan_only": True, "dry_run": True}) == "plan"
    assert run_kind({}) == "apply"
    name = run_name("production", "apply", "db.internal", "3f9c1a2b-0000-4000-8000-000000000000")
    assert name == "migrate-production-apply-db.internal-3f9c1a"
    assert run_tags("production") == ["production", "migrate"]


def test_dry_runs_and_plans_publish_under_their_own_keys() -> None:
    assert artifact_key("staging", "dry-run-report") == "migrate-staging-dry-run-report"
    assert artifact_key("staging", "dry-run-plan") != artifact_key("staging", "plan")
