"""The run report: its log file is private, and a rolled-back apply is reported as having run."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from db.deploy.apply import apply_master_schema
from db.deploy.result import ApplyResult
from db.errors import ApplyFailed
from tasks.reporting import REPORT_LOG_MODE, RunReport, write_report_log


def test_the_report_log_is_mode_0600_even_over_an_older_readable_one(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "migrate-dev.log"
    write_report_log(path, RunReport(environment="dev"))
    assert stat.S_IMODE(path.stat().st_mode) == REPORT_LOG_MODE == 0o600
    path.chmod(0o644)  # what earlier versions left behind
    write_report_log(path, RunReport(environment="dev", outcome="success"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "SUCCESS" in path.read_text()


def test_an_apply_that_ran_and_rolled_back_is_not_reported_as_not_run(db_url: str) -> None:
    with pytest.raises(ApplyFailed) as caught:
        apply_master_schema(
            db_url, "CREATE TABLE IF NOT EXISTS t (id int);\nSELECT 1/0;\n", environment="dev"
        )
    result = caught.value.result
    assert isinstance(result, ApplyResult)
    report = RunReport(environment="dev")
    report.apply = result  # what flows/migrate.py does with a failed apply
    report.fail(caught.value.message, caught.value.hint)
    text = report.to_markdown()
    changes = text.split("## Changes", 1)[1].split("## Verification", 1)[0]
    assert "not run" not in changes
    assert "apply ran and was rolled back: nothing was changed (2 statement(s)" in changes
    assert "at line 2" in text and "division by zero" in text


def test_an_apply_that_never_started_is_reported_as_not_run() -> None:
    text = RunReport(environment="dev").to_markdown()
    assert "## Changes\n\nnot run" in text
