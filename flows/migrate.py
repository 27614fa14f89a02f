"""The `migrate` flow: preflight -> backup -> apply -> verify for one environment, and its run report."""

from __future__ import annotations

from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Cancelled
from pydantic import SecretStr

from db.connection.environments import get_environment
from db.deploy.apply import target_is_empty
from db.deploy.confirmation import APPROVAL_PENDING, flow_confirmation
from db.deploy.settle import repaired_after_dead_run
from db.errors import SchemaflowError
from db.plan.data_checks import refuse_data_failures
from db.schema.git_revision import require_files_at
from db.schema.master_file import MASTER_SCHEMA, read_schema
from db.schema.precheck import check_schema_file
from db.versions.files import DEFAULT_MIGRATIONS_DIR
from tasks.apply import apply, record_lint_allowance
from tasks.approval import (
    ApprovalRejected,
    approve,
    plan,
    record_approval,
)
from tasks.backup import backup, record_restore_point
from tasks.concurrency import migrate_slot
from tasks.naming import migrate_run_name
from tasks.notify import notify_failure, remember_failure
from tasks.preflight import preflight
from tasks.reporting import (
    RunReport,
    publish_report,
    settle_previous_report,
    unexpected_error,
    write_report_log,
)
from tasks.secrets import resolve_flow_target
from tasks.verify import verify


@flow(name="migrate", flow_run_name=migrate_run_name(), log_prints=False, on_failure=[notify_failure])
def migrate(
    environment: str = "local",
    confirm: bool = False,
    dry_run: bool = False,
    database_url: SecretStr | None = None,
    backup_anyway: bool = False,
    run_expectations: bool = True,
    schema_file: str | None = None,
    allow_hazards: list[str] | None = None,
    allow_lint: list[str] | None = None,
    plan_only: bool = False,
    plan_checksum: str | None = None,
    confirmed_by: str | None = None,
    scratch_url: SecretStr | None = None,
    revision: str | None = None,
) -> dict[str, Any]:
    """Deploy the master schema to one environment: preflight, backup, apply, verify.

    Args:
        environment: Name of an environment in environments.toml (local, staging, production, ...).
        confirm: Required for environments that demand confirmation (production). Without it the run
            stops after preflight, having changed nothing. A flow run never reads SKIP_CONFIRMATION
            (only the CLI does, and passes confirm=true).
        dry_run: Run preflight and apply inside a transaction that is rolled back, and report the
            changes a real run would make. No backup, no verification, nothing changed.
        database_url: Override the environment's connection (stored masked). Normally left empty: the
            URL comes from the environment's Secret block or variables.
        backup_anyway: Take a backup even where the environment does not require one.
        run_expectations: Run the Great Expectations suites during verification (slower on big data).
        schema_file: Apply this file instead of the repository's master schema (for rehearsals).
        allow_hazards: Hazard kinds (rewrites_table, blocks_writes, ...) this run may execute on top of
            the environment's allow_hazards. Read the plan first; the CLI's --allow-hazard KIND.
        allow_lint: Master-file lint rules (SF005, ...) this run may pass with, after review; recorded on
            the run's history row. Any other lint finding stops the run before preflight (--allow-lint).
        plan_only: Run preflight, compute and publish the plan, and stop: nothing changed.
        plan_checksum: The checksum of the plan a reviewer approved (the CLI's --plan-checksum / --yes):
            the run applies only that plan, refuses any other, and does not pause for approval.
        confirmed_by: Set by the CLI: where its confirmation came from ("--yes", "typed yes",
            "SKIP_CONFIRMATION=true (CLI)"), for the report. Leave empty: a confirm=true from
            anywhere else is recorded as "flow parameter confirm=true".
        scratch_url: Where the expected side is built instead of the environment's scratch_url
            (stored masked): an empty database on a server of the same build (db/catalog/scratch.py).
        revision: The git commit this run must deploy (the staging workflow passes the merged commit).
            The run refuses, changing nothing, when the master file or a one-off this worker reads
            differs from that commit's: a stale checkout would deploy another schema.

    Returns:
        A summary: environment, outcome, changes, backup file, history id, report log path.
    """
    logger = get_run_logger()
    report = RunReport(environment=environment, dry_run=dry_run, flow_run=str(flow_run.get_name() or ""))
    log_path = None
    slot = ExitStack()
    try:
        env = get_environment(environment)
        log_path = env.report_log
        resolved = resolve_flow_target(env, database_url)
        report.target = str(resolved)
        logger.info("migrating %s at %s%s", environment, resolved, " (dry run)" if dry_run else "")
        url = resolved.url
        for warning in resolved.warnings:
            logger.warning("%s", warning)
        # Cheap and local: before preflight connects or a backup runs.
        if revision:
            deployed = [
                Path(schema_file) if schema_file else MASTER_SCHEMA,
                env.migrations_dir or DEFAULT_MIGRATIONS_DIR,
            ]
            report.revision = require_files_at(revision, deployed)
            logger.info("the worker's master file and one-offs are %s's", report.revision[:12])
        check_schema_file(schema_file, allow_lint or ())
        slot.enter_context(migrate_slot(environment))  # one migrate per environment, through the pause
        # Holding the slot, a report still RUNNING is a dead run's; ours reads RUNNING until it ends.
        report.settled = settle_previous_report(log_path)
        if report.settled:
            logger.warning("%s", report.settled)
        _checkpoint(report, log_path)

        # A dry run rolls back everything, so planning against production needs no confirmation.
        # With require_approval the gate is the approval of the computed plan below, not a parameter.
        approval_gate = (env.require_approval or bool(plan_checksum)) and not dry_run
        report.preflight = preflight(
            url,
            environment,
            flow_confirmation(confirm, confirmed_by, dry_run=dry_run)
            or ("not needed: a plan-only run changes nothing" if plan_only else "")
            or (APPROVAL_PENDING if approval_gate else ""),
        )
        report.approval_asked = approval_gate
        if plan_only or approval_gate:
            schema_text = read_schema(schema_file)
            report.plan = plan(url, environment, schema_text, dry_run=dry_run, scratch_url=scratch_url)
            if plan_only:
                report.outcome = "success"
                return summary(report, log_path)
            # Rows the plan's steps would fail on stop it before anyone is asked to approve it.
            refuse_data_failures(report.plan, environment)
            _checkpoint(report, log_path)  # the pause may be long, and its worker may die in it
            report.approval = approve(
                url, env, schema_text, report.plan, plan_checksum, confirmed_by, scratch_url
            )

        restore_command = None
        takes_backup = not dry_run and (env.require_backup or backup_anyway)
        if takes_backup and report.plan is None and not target_is_empty(url, read_schema(schema_file)):
            # The plan's data checks, before a backup is spent on a change the rows would refuse.
            report.plan = plan(url, environment, read_schema(schema_file), scratch_url=scratch_url)
        if takes_backup and report.plan is not None:
            refuse_data_failures(report.plan, environment)
        if dry_run:
            report.backup_skipped = "skipped: dry run changes nothing"
        elif env.require_backup or backup_anyway:
            report.backup = backup(
                url, environment, url_in_restore_command=resolved.source == "--database-url"
            )
            restore_command = report.backup.get("restore_command")
        else:
            report.backup_skipped = f"skipped: not required for {environment}"

        _checkpoint(report, log_path)  # a kill from here on leaves RUNNING, which the next run settles
        # Under an approval, apply plans again after the backup and runs only the approved plan.
        approved = report.approval.plan if report.approval is not None else None
        hazards = [*(allow_hazards or []), *(report.approval.allowed_hazards if report.approval else [])]
        report.apply = apply(
            url, environment, dry_run=dry_run, schema_file=schema_file, allow_hazards=hazards,
            restore_command=restore_command, approved=approved, scratch_url=scratch_url,
        )  # fmt: skip
        if report.settled and not dry_run and not report.apply.repaired:
            report.apply.repaired = repaired_after_dead_run(report.apply.steps)
        if allow_lint and report.apply.history_id:
            record_lint_allowance(url, env, report.apply.history_id, allow_lint)
        if report.approval is not None and report.apply.history_id:
            record_approval(url, env, report.apply.history_id, report.approval)
        restore_point = (report.backup or {}).get("restore_point")
        if restore_point and report.apply.history_id:
            # The safe point before this change, on the run's own row: `schemaflow history` shows
            # what `restore --restore-point` takes.
            record_restore_point(url, env, report.apply.history_id, restore_point)
        failed_steps = [s for s in report.apply.post_commit_steps if s.status == "failed"]
        if failed_steps:
            step = failed_steps[0]
            raise SchemaflowError(
                f"the schema was applied and committed, but {step.name} failed: {step.detail}",
                hint=f"run it by hand in autocommit: {step.statement}",
            )

        if dry_run:
            report.verify_notes.append("skipped: a dry run leaves nothing to verify")
        else:
            try:
                report.verify = verify(
                    url, environment, run_expectations=run_expectations, restore_command=restore_command
                )
            except SchemaflowError as exc:
                report.verify = getattr(exc, "rows", None) or report.verify
                report.restore_command = restore_command or ""
                raise
        report.outcome = "success"
    except ApprovalRejected as exc:
        report.outcome = "rejected"
        report.error, report.hint = exc.message, exc.hint or ""
        logger.warning("migrate %s: %s", environment, exc.message)
        return Cancelled(message=exc.message)  # type: ignore[return-value]  # a refusal, not a failure
    except SchemaflowError as exc:
        if report.preflight is None and hasattr(exc, "rows") and exc.rows:
            report.preflight = exc.rows
        applied = getattr(exc, "result", None)  # ApplyFailed's: apply ran and rolled back
        if report.apply is None and applied is not None:
            report.apply = applied  # so the report says so instead of "not run"
        if allow_lint and getattr(applied, "history_id", None):
            try:  # a failed run that a reviewer let through lint says so too
                record_lint_allowance(url, env, applied.history_id, allow_lint)  # type: ignore[union-attr]
            except Exception as unrecorded:
                logger.warning("the allowed lint rules were not added to the history row: %s", unrecorded)
        if report.approval is not None and getattr(applied, "history_id", None):
            # The audit trail names who approved a run that failed, too.
            try:
                record_approval(url, env, applied.history_id, report.approval)  # type: ignore[union-attr]
            except Exception as unrecorded:  # the run's own error is what must show
                logger.warning("the approval was not added to history row %s: %s",
                               applied.history_id, unrecorded)  # type: ignore[union-attr]  # fmt: skip
        report.fail(exc.message, exc.hint)
        remember_failure(exc, report.failed_step())  # for the failure artifact
        logger.error("migrate %s failed: %s", environment, report.error)
        raise
    except Exception as exc:
        error = unexpected_error(exc, logger)
        report.fail(error.message, error.hint)
        remember_failure(error, report.failed_step())
        raise error from None
    except BaseException as stopped:  # SIGTERM's exception, a cancellation: never a report left RUNNING
        report.interrupted(type(stopped).__name__)
        raise
    finally:
        slot.close()
        _finish(report, log_path, logger)
    return summary(report, log_path)


def summary(report: RunReport, log_path: Any) -> dict[str, Any]:
    """What the flow returns (and the CLI prints): small, JSON-friendly, no password."""
    result = report.apply
    return {
        "environment": report.environment,
        "outcome": report.outcome,
        "dry_run": report.dry_run,
        "revision": report.revision or None,
        "objects_changed": result.objects_changed if result else 0,
        "changes": result.counts() if result else {},
        "history_id": result.history_id if result else None,
        "backup": (report.backup or {}).get("path"),
        "report_log": str(log_path) if log_path else None,
        "plan_checksum": report.plan.checksum if report.plan else None,
        "approval": report.approval.as_dict() if report.approval else None,
        # A dry run that passed proves only what it ran: the steps and one-offs it could not run.
        "not_rehearsed": [
            row["step"]
            for row in (result.steps if result else [])
            if row["status"].startswith("not rehearsed")
        ],
    }


def _checkpoint(report: RunReport, log_path: Any) -> None:
    """The report so far, RUNNING, in the log file: what a killed process leaves for the next run."""
    if log_path:
        with suppress(OSError):
            write_report_log(log_path, report)


def _finish(report: RunReport, log_path: Any, logger: Any) -> None:
    """Publish the markdown artifact and write the log file, whatever happened."""
    try:
        publish_report(report)
    except Exception as exc:  # the report must never hide the run's own outcome
        logger.warning("could not publish the report artifact: %s", type(exc).__name__)
    if log_path:
        try:
            write_report_log(log_path, report)
            logger.info("run report written to %s", log_path)
        except OSError as exc:
            logger.warning("could not write the run report to %s: %s", log_path, exc)
