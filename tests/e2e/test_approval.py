"""End to end: migrate/production pauses on its plan and changes nothing without an approval.

Real Prefect server and process worker (tests/e2e/conftest.py), real PostgreSQL + TimescaleDB. The
production environment of the stack has `require_approval = true` and a 120 s `approval_timeout`.
Tests run in file order on one production database: the ones that must leave it untouched first,
the approval that applies the schema last.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from db.catalog.drift import check_drift
from db.catalog.snapshot import snapshot_catalog
from db.deploy.apply import apply_master_schema
from db.deploy.history import list_runs
from db.plan.model import snapshot_checksum
from tests.e2e.browser import ARTIFACTS_DIR, Tab, capture_after_click, chromium_path, devtools
from tests.e2e.conftest import APPROVAL_TIMEOUT_SECONDS, PrefectStack
from tests.e2e.test_deployments import artifacts_of, user_tables

pytestmark = pytest.mark.slow

PLAN_KEY = "migrate-production-plan"
FAILURE_AUTOMATION = "schemaflow-migrate-production-failed"
# The deployment runs the Great Expectations suites by default; they take ~30 s here and are not
# what these tests are about (tests/e2e/test_deployments.py covers them on migrate/local).
FAST = {"run_expectations": False}
WIDE = 1440  # the width the plan artifact and the form must be readable at
# A field of the Resume form (Prefect's schema form), set as a person would: the value, then the event
# Vue listens to. Returns false when there is no such field.
FILL = """
((label, value) => {
  const field = [...document.querySelectorAll('.p-modal .schema-form-property')]
    .find(p => p.querySelector('.schema-form-property__label')?.innerText.trim() === label);
  const input = field && field.querySelector('select, textarea, input');
  if (!input) return false;
  Object.getOwnPropertyDescriptor(Object.getPrototypeOf(input), 'value').set.call(input, value);
  input.dispatchEvent(new Event(input.tagName === 'SELECT' ? 'change' : 'input', {bubbles: true}));
  return true;
})
"""
READ = """
((label) => {
  const field = [...document.querySelectorAll('.p-modal .schema-form-property')]
    .find(p => p.querySelector('.schema-form-property__label')?.innerText.trim() === label);
  const input = field && field.querySelector('select, textarea, input');
  return input ? input.value : null;
})
"""
FORM_CLOSED = "!document.querySelector('.p-modal')"
TOASTS = "[...document.querySelectorAll('.p-toast')].map(t => t.innerText).join(' | ')"  # the UI's errors
# Each header cell of the table (inside `clip`) that has a header `wanted`, with the box it is drawn in
# and the part of the viewport where it can be seen: inside the table's scrolling wrapper and `clip`.
HEADERS = """
((wanted, clip) => {
  const table = [...document.querySelectorAll(clip + ' table')]
    .find(t => [...t.querySelectorAll('th')].some(th => th.innerText.trim() === wanted));
  if (!table) return null;
  const edges = [table.parentElement, document.querySelector(clip)].map(e => e.getBoundingClientRect());
  const left = Math.max(0, ...edges.map(e => e.left));
  const right = Math.min(window.innerWidth, ...edges.map(e => e.right));
  return [...table.querySelectorAll('th')].map(th => {
    const box = th.getBoundingClientRect();
    return {text: th.innerText.trim(), left: box.left, right: box.right, clipLeft: left, clipRight: right};
  });
})
"""


def catalog_of(url: str) -> str:
    """The production database's catalog checksum: equal before and after means nothing changed."""
    with psycopg.connect(url, autocommit=True) as conn:
        return snapshot_checksum(snapshot_catalog(conn, ("public", "schemaflow")))


def plan_artifacts(stack: PrefectStack, flow_run_id: Any) -> list[Any]:
    found = [a for a in artifacts_of(stack, flow_run_id) if a.key == PLAN_KEY]
    return sorted(found, key=lambda artifact: artifact.created)


def task_runs_of(stack: PrefectStack, flow_run_id: Any) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with stack.client() as client:
        return list(
            client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        )


def wait_for_artifact(stack: PrefectStack, flow_run_id: Any, key: str, timeout: float = 60) -> Any:
    """The run's artifact `key`, waiting for it: a run can reach its final state before its report."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [a for a in artifacts_of(stack, flow_run_id) if a.key == key]
        if found:
            return max(found, key=lambda artifact: artifact.created)
        time.sleep(1)
    pytest.fail(f"no {key} artifact on run {flow_run_id} within {timeout:.0f}s\n{stack.log_tail()}")


def wait_for_alert(stack: PrefectStack, run_name: str, timeout: float = 60) -> dict[str, Any]:
    """The webhook POST the failure automation sent for `run_name`."""
    assert stack.alerts is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for alert in stack.alerts.received:
            if run_name in str(alert):
                return alert
        time.sleep(1)
    pytest.fail(f"no alert for {run_name} within {timeout:.0f}s; received: {stack.alerts.received}")


def visible_headers(tab: Tab, wanted: str, clip: str) -> list[str]:
    """The header texts of the table with column `wanted`; fails naming any column drawn off-screen."""
    found = f"(() => {{ const h = {HEADERS}({wanted!r}, {clip!r}); return h && JSON.stringify(h); }})()"
    headers = tab.wait_until(found, f"a table with a {wanted} column")
    cut = [h for h in json.loads(headers) if h["left"] < h["clipLeft"] - 1 or h["right"] > h["clipRight"] + 1]
    assert not cut, f"columns cut off at {WIDE} px: {cut}"
    return [h["text"] for h in json.loads(headers)]


def open_form(tab: Tab, stack: PrefectStack, run_id: Any) -> str:
    """The paused run's page at 1440 px, its Resume button pressed: the form's text."""
    tab.navigate(f"{stack.ui_url}/runs/flow-run/{run_id}", WIDE, 900)
    tab.wait_text("Paused")
    tab.click_button("Resume")
    tab.wait_text("Decision")
    time.sleep(1)  # the modal's transition, before any picture
    return str(tab.evaluate("document.querySelector('.p-modal').innerText"))


def submit_form(tab: Tab, decision: str, reason: str, stack: PrefectStack, run_id: Any) -> None:
    """Choose `decision`, give `reason`, Submit: the form closes (it sent the answer).

    A form still open 30 s after Submit on a run still paused gets Submit once more, as a person
    would press it again; a second miss fails with the run's state, the UI's toasts and the form.
    """
    for attempt in (1, 2):
        if attempt == 2 and tab.evaluate(FORM_CLOSED):
            return  # the first Submit got through after all
        for _ in range(5):  # a change of one field can re-render the others: fill until both read back
            assert tab.evaluate(f"{FILL}('Decision', {decision!r})")
            assert tab.evaluate(f"{FILL}('Reason', {reason!r})")
            time.sleep(1)
            if (
                tab.evaluate(f"{READ}('Decision')") == decision
                and tab.evaluate(f"{READ}('Reason')") == reason
            ):
                break
        tab.click_button("Submit")
        try:
            tab.wait_until(FORM_CLOSED, "the form closing after Submit", 30 * attempt)
            return
        except RuntimeError:
            state = stack.states_of(run_id)[-1]
            if attempt == 1 and state.type.value == "PAUSED":
                print("e2e: the form was open 30 s after Submit and the run still paused; Submit again")
                continue
            tab.screenshot(ARTIFACTS_DIR / f"approval-form-not-closed-{decision}.png")
            modal = tab.evaluate("document.querySelector('.p-modal')?.innerText || ''")
            toasts = tab.evaluate(TOASTS)
            raise AssertionError(
                f"the form did not close after Submit ({attempt} time(s)); the run is {state.type.value} "
                f"({state.message}); toasts: {toasts or 'none'}; the form shows: {str(modal)[-1200:]}"
            ) from None


@pytest.fixture(autouse=True)
def no_run_left_paused(prefect_stack: PrefectStack) -> Iterator[None]:
    """A test that fails mid-way leaves its run paused, holding migrate-production: reject it, so the
    next test starts from a free slot instead of failing on "another migrate run is in progress"."""
    yield
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    with prefect_stack.client() as client:
        paused = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            )
        )
    for run in paused:
        prefect_stack.resume(run.id, {"decision": "reject", "reason": "e2e teardown"})
        prefect_stack.wait_for_final_state(run.id)


@pytest.fixture(scope="module")
def production(prefect_stack: PrefectStack) -> str:
    """The stack's production database, untouched so far."""
    assert user_tables(prefect_stack.production_db_url) == []
    return prefect_stack.production_db_url


def test_paused_with_its_plan_a_second_trigger_is_refused_and_a_rejection_changes_nothing(
    prefect_stack: PrefectStack, production: str
) -> None:
    before = catalog_of(production)
    started = time.monotonic()
    first = prefect_stack.run_deployment("migrate/production", FAST)
    paused = prefect_stack.wait_for_state(first, {"PAUSED"}, timeout=180)
    paused_clock = time.monotonic()
    print(f"\ne2e: migrate/production paused for approval after {paused_clock - started:.1f}s")
    assert paused.name.startswith("migrate-production-apply-127.0.0.1-"), paused.name
    assert {"production", "migrate"} <= set(paused.tags)
    plans = plan_artifacts(prefect_stack, first)
    assert len(plans) == 1, [a.key for a in artifacts_of(prefect_stack, first)]
    text = str(plans[0].data)
    assert "# Plan for `production`" in text and "plan checksum `" in text, text[:500]
    assert "public.listener_events" in text and "expectation results before the change" in text

    # While the first waits for approval it holds migrate-production: a second trigger is refused.
    second = prefect_stack.wait_for_final_state(prefect_stack.run_deployment("migrate/production", FAST))
    assert second.state.is_failed(), second.state.message
    assert "another migrate run of 'production' is in progress" in (second.state.message or "")
    assert task_runs_of(prefect_stack, second.id) == []  # it never reached preflight
    first_states = prefect_stack.states_of(first)
    second_states = prefect_stack.states_of(second.id)
    paused_at = next(s.timestamp for s in first_states if s.type.value == "PAUSED")
    second_running = next(s.timestamp for s in second_states if s.type.value == "RUNNING")
    assert paused_at < second_running < second_states[-1].timestamp
    assert prefect_stack.wait_for_state(first, {"PAUSED"}).state.type.value == "PAUSED"

    # In Chromium at 1440 px: the plan artifact's columns, then the paused run's form.
    if chromium_path() is None:
        pytest.fail("chromium is not installed; run: bash scripts/setup-browser.sh")
    checksum = text.split("plan checksum `")[1][:64]
    with devtools(timeout=240) as tab:
        tab.navigate(f"{prefect_stack.ui_url}/artifacts/artifact/{plans[0].id}", WIDE, 900)
        columns = visible_headers(tab, "hazards", "body")
        assert columns == ["#", "step", "lock", "where", "rows", "hazards"], columns
        tab.screenshot(ARTIFACTS_DIR / "plan-artifact-1440.png")
        form = open_form(tab, prefect_stack, first)
        groups = [checksum[i : i + 16] for i in range(0, 64, 16)]
        assert all(group in form for group in groups) and "Objects, by step" in form, form[:1500]
        assert visible_headers(tab, "step", ".p-modal__card") == ["#", "step", "hazards"]
        tab.screenshot(ARTIFACTS_DIR / "approval-form.png")
        tab.click_button("Submit")  # no decision, no reason: the form refuses, nothing is sent
        tab.wait_text("'decision' is a required property")
        tab.screenshot(ARTIFACTS_DIR / "approval-form-refused.png")
        with pytest.raises(RuntimeError, match="'decision' is a required property"):
            prefect_stack.resume(first, {"reason": "e2e: no decision"})  # nor through the API
        assert prefect_stack.wait_for_state(first, {"PAUSED"}).state.type.value == "PAUSED"
        # The run waits APPROVAL_TIMEOUT_SECONDS; on a loaded machine this is how much of it is left.
        print(f"e2e: the form is answered {time.monotonic() - paused_clock:.1f}s after the pause")
        submit_form(tab, "reject", "e2e: not today", prefect_stack, first)
    rejected = prefect_stack.wait_for_final_state(first)
    assert rejected.state.type.value == "CANCELLED", rejected.state
    assert "rejected: e2e: not today; nothing was changed" in (rejected.state.message or "")
    assert catalog_of(production) == before
    assert user_tables(production) == []
    report = next(a for a in artifacts_of(prefect_stack, first) if a.key == "migrate-production-report")
    assert "REJECTED" in str(report.data)


def test_no_answer_within_the_timeout_fails_changes_nothing_and_alerts(
    prefect_stack: PrefectStack, production: str
) -> None:
    from prefect.automations import Automation
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_stack.api_url}):
        automation: Any = Automation.read(name=FAILURE_AUTOMATION)
    assert automation.enabled and automation.actions[0].type == "send-notification"

    before = catalog_of(production)
    run_id = prefect_stack.run_deployment("migrate/production", FAST)
    paused = prefect_stack.wait_for_state(run_id, {"PAUSED"}, timeout=180)
    clock = time.monotonic()
    # While it waits: the paused run in the UI, its Resume button opening the approval form.
    if chromium_path() is None:
        pytest.fail("chromium is not installed; run: bash scripts/setup-browser.sh")
    page = capture_after_click(
        f"{prefect_stack.ui_url}/runs/flow-run/{run_id}",
        "e2e-paused-for-approval",
        button="Resume",
        wait_for="Paused",
        expect="Reason",
        timeout=APPROVAL_TIMEOUT_SECONDS - 5,
    )
    print(f"\ne2e: screenshot {page.screenshot} after {time.monotonic() - clock:.1f}s")
    for field in ("Decision", "Allow Hazards", "Reason"):
        assert field in page.dom, (field, page.dom[:2000])
    run = prefect_stack.wait_for_final_state(run_id, timeout=APPROVAL_TIMEOUT_SECONDS + 90)
    print(f"\ne2e: unanswered approval: {run.state.type.value} {time.monotonic() - clock:.1f}s after pausing")
    assert run.state.is_failed(), run.state
    # Prefect's server fails an expired pause itself ("The flow was ... and never resumed."), a moment
    # before the run's own code notices; the run's report carries schemaflow's message.
    ours = f"within {APPROVAL_TIMEOUT_SECONDS}s; nothing was changed"
    assert ours in (run.state.message or "") or "never resumed" in (run.state.message or ""), run.state
    assert catalog_of(production) == before and user_tables(production) == []
    report = wait_for_artifact(prefect_stack, run_id, "migrate-production-report")
    assert ours in str(report.data), str(report.data)[:1500]

    failure = wait_for_artifact(prefect_stack, run_id, "migrate-production-failure")
    text = str(failure.data)
    assert "failed at: **approval**" in text and "```" not in text, text
    assert "choose approve in its form within" in text, text
    alert = wait_for_alert(prefect_stack, paused.name)
    assert "migrate FAILED on production" in str(alert), alert


def test_a_schema_change_before_the_approval_makes_it_plan_and_ask_again(
    prefect_stack: PrefectStack, production: str
) -> None:
    run_id = prefect_stack.run_deployment("migrate/production", FAST)
    first_pause = prefect_stack.wait_for_state(run_id, {"PAUSED"}, timeout=180)
    with psycopg.connect(production, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.e2e_changed_meanwhile (id int)")
    try:
        prefect_stack.resume(run_id, {"decision": "approve", "reason": "e2e: approve plan 1"})
        again = prefect_stack.wait_for_state(
            run_id, {"PAUSED"}, timeout=120, after=first_pause.state.timestamp
        )
        plans = plan_artifacts(prefect_stack, run_id)
        assert len(plans) == 2, [str(p.data)[:200] for p in plans]
        assert "re-planned after a catalog change" in str(plans[1].data)
        assert (
            str(plans[0].data).split("plan checksum `")[1][:64]
            != str(plans[1].data).split("plan checksum `")[1][:64]
        )
        assert user_tables(production) == ["public.e2e_changed_meanwhile"]  # nothing applied meanwhile
        prefect_stack.resume(again.id, {"decision": "reject", "reason": "e2e: stop"})
        assert prefect_stack.wait_for_final_state(run_id).state.type.value == "CANCELLED"
    finally:
        with psycopg.connect(production, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS public.e2e_changed_meanwhile")
    assert user_tables(production) == []


def test_approved_in_the_form_the_plan_is_applied_and_drift_is_empty(
    prefect_stack: PrefectStack, production: str
) -> None:
    # A live production database that is one index behind the master file.
    apply_master_schema(production, record_history=False)
    with psycopg.connect(production, autocommit=True) as conn:
        conn.execute("DROP INDEX public.idx_podcasts_tenant_id")
    run_id = prefect_stack.run_deployment("migrate/production", FAST)
    prefect_stack.wait_for_state(run_id, {"PAUSED"}, timeout=180)
    plan_text = str(plan_artifacts(prefect_stack, run_id)[-1].data)
    checksum = plan_text.split("plan checksum `")[1][:64]
    assert "**1 step(s)**" in plan_text and "idx_podcasts_tenant_id" in plan_text, plan_text[:1500]
    assert "| 1 | create index | Share | in txn |" in plan_text and "runs step by step" in plan_text
    assert "1. `public.idx_podcasts_tenant_id` on `public.podcasts`" in plan_text
    clock = time.monotonic()
    with devtools(timeout=240) as tab:  # approved in the form, as a person does
        assert checksum[:16] in open_form(tab, prefect_stack, run_id)
        submit_form(tab, "approve", "e2e: reviewed", prefect_stack, run_id)
    run = prefect_stack.wait_for_final_state(run_id, timeout=240)
    print(f"\ne2e: approved run {run.state.type.value} {time.monotonic() - clock:.1f}s after resume")
    assert run.state.is_completed(), f"{run.state.message}\n{prefect_stack.log_tail()}"
    assert not check_drift(production).has_drift
    with psycopg.connect(production, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.idx_podcasts_tenant_id')").fetchone() != (None,)
    with psycopg.connect(production, autocommit=True) as conn:
        newest = list_runs(conn, "production", limit=1)[0]
    assert newest["outcome"] == "success" and newest["objects_changed"] == 1
    assert newest["plan_checksum"] == checksum
    assert newest["approval_reason"] == "e2e: reviewed"
    assert newest["approval_source"] == "prefect-ui"
    report = next(a for a in artifacts_of(prefect_stack, run_id) if a.key == "migrate-production-report")
    assert f"plan `{checksum}`" in str(report.data) and "approved (prefect-ui)" in str(report.data)
    changes = next(a for a in artifacts_of(prefect_stack, run_id) if a.key == "migrate-production-changes")
    assert f"(plan {checksum})" in (changes.description or ""), changes.description
