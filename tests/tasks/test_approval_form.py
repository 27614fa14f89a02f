"""The approval form (tasks/approval_form.py) on a real plan: what it shows and what it refuses.

tasks/approval.py's ApprovalInput, the form before it, accepted an empty Submit as a rejection
(approve defaulted to false), an empty reason, and showed no checksum or steps: each check below
fails against it.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from db.connection.environments import get_environment
from db.plan.database import plan_database
from db.plan.model import Plan
from tests.support.environments import write_test_environments

FILE = "CREATE TABLE IF NOT EXISTS public.t (id bigint NOT NULL, note text);\n"  # int -> bigint: a hazard


@pytest.fixture
def plan(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Plan:
    write_test_environments(
        tmp_path, db_url, monkeypatch, "[environments.prod]\nrequire_approval = true\n[environments.dev]\n"
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.t (id int)")
        conn.execute("INSERT INTO public.t SELECT generate_series(1, 1000)")
        conn.execute("ANALYZE public.t")  # rows to rewrite: the type change is a hazard
    return plan_database(db_url, FILE)


def test_the_form_shows_the_plan_and_needs_a_decision_and_a_reason(plan: Plan) -> None:
    from tasks.approval_form import approval_form_for

    form = approval_form_for(plan, get_environment("prod"))
    assert plan.steps and plan.hazards()
    description = form._description
    groups = " ".join(f"`{plan.checksum[i : i + 16]}`" for i in range(0, 64, 16))
    assert f"plan checksum: {groups}" in description and f"steps: **{len(plan.steps)}**" in description
    assert "| # | step | hazards |" in description  # the step table itself
    schema = form.model_json_schema()
    assert {"decision", "reason"} <= set(schema["required"])  # no default: Submit must choose
    assert "default" not in schema["properties"]["decision"]
    with pytest.raises(ValidationError):
        form.model_validate({})  # an untouched Submit is refused, not a rejection
    with pytest.raises(ValidationError):
        form.model_validate({"decision": "approve", "reason": ""})
    hazards = sorted(str(h) for h in plan.hazards())
    with pytest.raises(ValidationError):
        form.model_validate({"decision": "approve", "reason": "ok by me", "allow_hazards": ["typed_by_hand"]})
    answer = form.model_validate({"decision": "approve", "reason": "ticket 42", "allow_hazards": hazards})
    assert answer.approve and answer.allow_hazards == hazards
    assert not form.model_validate({"decision": "reject", "reason": "not today"}).approve


def test_without_require_approval_the_reason_may_be_left_empty(plan: Plan) -> None:
    from tasks.approval_form import approval_form_for

    form = approval_form_for(plan, get_environment("dev"))
    assert form.model_validate({"decision": "reject"}).reason == ""
