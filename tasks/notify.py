"""Make a failed run loud: a flow `on_failure` hook for the migrate, health and drift flows.

Prefect OSS has no mail or chat of its own, so a failure is made visible three ways a person (or an
automation) can pick up:
- an ERROR (CRITICAL for production) log line in the run's logs, carrying the actionable message;
- a markdown artifact keyed `<flow>-<environment>-failure` on the run, so the UI's Artifacts page keeps
  a history of failures per environment;
- an event `schemaflow.run.failed` with the environment as a label, which a Prefect automation can
  turn into a notification (see the README's "Deployments and the Prefect UI").

Use it as `@flow(..., on_failure=[notify_failure])`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event
from prefect.logging.loggers import flow_run_logger

from db.connection.urls import mask_url
from tasks.reporting import artifact_key

FAILURE_EVENT = "schemaflow.run.failed"
LOUD_ENVIRONMENTS = frozenset({"production"})
# Set by the CLI around the flow it runs in-process: it prints the error line and the report itself,
# so the banner on stderr and a CRITICAL record (which passes its console filter) would repeat them.
CLI_RUN_VAR = "SCHEMAFLOW_CLI_RUN"


def failure_artifact_key(flow_name: str, environment: str) -> str:
    """The artifact key for a flow's failures in one environment (lowercase, digits and dashes only)."""
    return artifact_key(environment, "failure", flow=flow_name)


def failure_message(state: Any) -> str:
    """The failed state's message with any URL or password masked; never empty."""
    message = (getattr(state, "message", None) or "").strip()
    return mask_url(message) if message else "the run failed without a message; see its logs"


def step_action(step: str | None, environment: str, hint: str | None) -> list[str]:
    """What a person does next, for the step that failed (the first line), then the error's own hint."""
    from db.connection.environments import get_environment

    try:
        env: Any = get_environment(environment)
    except Exception:  # an unknown environment is itself the failure; say what is generic
        env = None
    secret = getattr(env, "secret_block", None)
    variable = getattr(env, "database_url_env", None) or "DATABASE_URL"
    key = f"migrate-{environment}"
    actions = {
        "target": (
            f"Give the run its database URL: create or fix the Secret block `{secret}` (Prefect UI: "
            f"Blocks, then + and Secret) or set `{variable}` in the worker's environment, then run the "
            "deployment again."
            if secret
            else f"Set `{variable}` in the worker's environment to the database URL, then run again."
        ),
        "preflight": f"Nothing was changed. Fix the check marked FAIL in the `{key}-preflight` table, "
        "then run the deployment again.",
        "approval": f"Nothing was changed. Run the deployment again, press Resume on the paused run and "
        f"choose approve in its form within {getattr(env, 'approval_timeout', 'its timeout')} (the form "
        f"shows the plan, also in the `{key}-plan` artifact).",
        "backup": "Nothing was changed: the backup failed before anything was applied. Check the backup "
        "folder's free space and permissions on the worker, then run the deployment again.",
        "apply": "Nothing was changed: the apply rolled back. Fix the statement the error names in the "
        "master file (or end the session holding the lock), then run the deployment again.",
        "apply-committed": "Some changes WERE committed before the failure: the error and the run "
        "report's step table name which. Fix the cause, then run the deployment again: it plans against "
        "what is there now and runs only what is left.",
        "verify": f"The schema WAS applied; verification failed. Read the `{key}-verify` table, then fix "
        "forward with the check's fix; the backup in the run report is for data that was lost, and "
        "a failed check does not mean any was.",
    }
    generic = "Read the run's logs (Logs tab) for the error, fix it, then run again."
    lines = [f"- {actions.get(step or '', generic)}"]
    if hint:
        lines.append(f"- From the check: {mask_url(hint)}")
    return lines


def render_failure_markdown(
    flow_name: str,
    run_name: str,
    environment: str,
    message: str,
    *,
    step: str | None = None,
    hint: str | None = None,
) -> str:
    """The failure artifact's text: what failed (whole, wrapping), and the action for the failed step."""
    # A blockquote wraps in the UI; a code block does not, and cut long messages off mid-word.
    quoted = "\n".join(f"> {line}" if line else ">" for line in message.splitlines())
    return "\n".join(
        [
            f"# FAILED: {flow_name} on {environment}",
            "",
            f"**Run:** `{run_name}`" + (f" (failed at: **{step}**)" if step else ""),
            "",
            "## What went wrong",
            "",
            quoted,
            "",
            "## What to do",
            "",
            *step_action(step, environment, hint),
        ]
    )


# What the run's own code knew when it failed, by flow run id: the hook reads it even when the state
# it is given is the server's (an expired approval pause is failed by the server, not by the run).
_FAILURES: dict[str, tuple[str | None, str | None, str | None]] = {}


def remember_failure(exc: BaseException, step: str) -> None:
    """Called by a flow as it fails: the step and the error, for this run's failure artifact."""
    from prefect.runtime import flow_run

    exc.failed_step = step  # type: ignore[attr-defined]
    _FAILURES[str(flow_run.id)] = (step, getattr(exc, "message", None), getattr(exc, "hint", None))


def _failure_details(state: Any, flow_run_id: Any = None) -> tuple[str | None, str | None, str | None]:
    """(failed step, the error's message, its hint) from the exception the run raised, when in memory."""
    if str(flow_run_id) in _FAILURES:
        return _FAILURES.pop(str(flow_run_id))
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:
        return None, None, None
    if not isinstance(exc, BaseException):
        return None, None, None
    return getattr(exc, "failed_step", None), getattr(exc, "message", None), getattr(exc, "hint", None)


def notify_failure_of(environment: str) -> Any:
    """notify_failure for an entry flow whose environment is fixed in code rather than a parameter."""

    def hook(flow: Any, flow_run: Any, state: Any) -> None:
        notify_failure(flow, flow_run, state, environment=environment)

    return hook


def notify_failure(flow: Any, flow_run: Any, state: Any, environment: str | None = None) -> None:
    """Flow on_failure hook: log loudly, attach a failure artifact, emit `schemaflow.run.failed`."""
    parameters = getattr(flow_run, "parameters", None) or {}
    environment = environment or str(parameters.get("environment") or "unknown")
    message = failure_message(state)
    step, error_message, hint = _failure_details(state, getattr(flow_run, "id", None))
    loud = environment in LOUD_ENVIRONMENTS or "production" in (getattr(flow_run, "tags", None) or [])
    logger = flow_run_logger(flow_run=flow_run, flow=flow)
    if parameters.get("dry_run"):
        # A dry run changes nothing: what it found is a finding to fix, not an alarm for the
        # environment (the CLI prints the error line itself).
        logger.warning(
            "dry run of %s on %s found a failure; nothing was changed\n%s", flow.name, environment, message
        )
    else:
        banner = f"{'!' * 12} {flow.name} FAILED on {environment.upper()} {'!' * 12}"
        in_cli = os.environ.get(CLI_RUN_VAR) == "1"
        logger.log(50 if loud and not in_cli else 40, "%s\n%s", banner, message)
        if not in_cli:  # the worker's own log (make ui's worker.log) shows it too, where no UI is open
            print(f"schemaflow: {banner}: {message}", file=sys.stderr)
    try:
        create_markdown_artifact(
            render_failure_markdown(
                flow.name,
                flow_run.name,
                environment,
                mask_url(error_message) if error_message else message,
                step=step,
                hint=hint,
            ),
            key=failure_artifact_key(flow.name, environment),
            description=f"{flow.name} failed on {environment}",
        )
        emit_event(
            FAILURE_EVENT,
            resource={
                "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                "prefect.resource.name": flow_run.name,
                "schemaflow.environment": environment,
                "schemaflow.flow": flow.name,
            },
            payload={"message": message, "loud": loud},
        )
    except Exception as exc:  # a broken notification must not hide the original failure
        logger.error("could not record the failure artifact/event: %s", mask_url(str(exc)))
