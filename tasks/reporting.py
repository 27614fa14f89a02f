"""The run report a person reads after a migrate run: one markdown text for the UI and the log file.

Also what every flow shares when it reports: artifact keys, and unexpected errors turned masked.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from db.clip import clip
from db.connection.urls import mask_url
from db.deploy.check_result import CheckResult
from db.deploy.result import ApplyResult
from db.errors import SchemaflowError

MAX_LISTED_CHANGES = 200
REPORT_LOG_MODE = 0o600
RUNNING_OUTCOME = "- outcome: **RUNNING**"
STATUS_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}
ATTENTION_MARK = {"fail": "✗ FAIL", "warn": "⚠ warn"}


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a flow or task run; a plain logger when a task is called via .fn()."""
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("schemaflow.tasks")


def in_run() -> bool:
    """True inside a flow or task run (artifacts attach to it); False when a task is called via .fn()."""
    from prefect.context import FlowRunContext, TaskRunContext

    return bool(FlowRunContext.get() or TaskRunContext.get())


def publish_table(table: list[dict[str, Any]], key: str, description: str) -> None:
    """A table artifact for the current run; nothing outside a run (Prefect deprecates orphan artifacts)."""
    if not in_run():
        return
    from prefect.artifacts import create_table_artifact

    create_table_artifact(table=table, key=key, description=description)


def artifact_key(environment: str, what: str = "", flow: str = "migrate") -> str:
    """A stable artifact key per flow and environment, so the UI keeps the history of each.

    Prefect accepts only lowercase letters, digits and dashes: migrate-production-report,
    schema-health-staging-checks, drift-staging (no `what`), schema-drift-prod-eu-failure.
    """
    parts = [_slug(flow), _slug(environment) or "env", _slug(what)]
    return "-".join(part for part in parts if part)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def unexpected_error(exc: Exception, logger: logging.Logger | logging.LoggerAdapter) -> SchemaflowError:
    """Log `exc`'s traceback masked; return the SchemaflowError to raise `from None` in its place.

    Prefect stores a raised exception's text as the run's state message (the failure hook and the UI
    show it) and logs its traceback; an unexpected error's text may hold a URL with its password, so
    only a masked copy may leave the flow, and `from None` keeps the original out of the chain.
    """
    logger.error("unexpected failure:\n%s", mask_url("".join(traceback.format_exception(exc))))
    return SchemaflowError(
        mask_url(f"unexpected {type(exc).__name__}: {exc}"),
        hint="see the run's logs; report it if it persists",
    )


@contextmanager
def masked_unexpected_errors(logger: logging.Logger | logging.LoggerAdapter) -> Iterator[None]:
    """Re-raise an unexpected exception of the block as `unexpected_error(exc)`, masked.

    SchemaflowErrors pass through unchanged: their messages are written to be shown.
    """
    try:
        yield
    except SchemaflowError:
        raise
    except Exception as exc:
        raise unexpected_error(exc, logger) from None


def check_rows(rows: list[CheckResult]) -> list[dict[str, str]]:
    """Check rows as the table artifact shows them."""
    return [
        {
            # A mark in the first column, so the one failing row is seen first in the UI's table.
            "!": ATTENTION_MARK.get(r.status, ""),
            "check": r.name,
            "status": r.status,
            "detail": mask_url(r.detail),
            "hint": mask_url(r.hint),
        }
        for r in rows
    ]


def change_rows(result: ApplyResult) -> list[dict[str, str]]:
    return [{"action": c.action, "kind": c.kind, "name": c.name, "detail": c.detail} for c in result.changes]


@dataclass
class RunReport:
    """Everything one run did, filled in step by step so a failed run still reports what happened."""

    environment: str
    dry_run: bool = False
    target: str = ""
    flow_run: str = ""
    revision: str = ""  # the commit whose files the run was asked to deploy, checked on the worker
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    preflight: list[CheckResult] | None = None
    backup: dict[str, Any] | None = None
    backup_skipped: str = ""
    apply: ApplyResult | None = None
    verify: list[CheckResult] | None = None
    verify_notes: list[str] = field(default_factory=list)
    outcome: str = "running"  # success | failed | rejected | interrupted
    error: str = ""
    hint: str = ""
    restore_command: str = ""
    plan: Any = None  # db.plan.model.Plan, when the run computed one (approval, plan_only)
    approval: Any = None  # tasks.approval.Approval, when the plan was approved
    settled: str = ""  # the previous run's report that a dead process left RUNNING, settled by this run
    approval_asked: bool = False  # the run waits for an approval of its plan (not only its data checks)

    def fail(self, message: str, hint: str | None = None) -> None:
        self.outcome = "failed"
        self.error = mask_url(message)
        self.hint = mask_url(hint or "")

    def interrupted(self, what: str) -> None:
        """The run was stopped from outside (SIGTERM, a cancelled or crashed run): say where, and what
        that left, instead of a report that reads RUNNING forever."""
        step = self.failed_step()
        if self.apply is not None:
            left = f"apply had ended: {self.apply.outcome}"
        elif step in ("target", "start", "preflight", "approval", "plan", "backup"):
            left = "nothing was changed: it stopped before apply"
        else:
            left = ("apply was running and did not report: `schemaflow history --env "
                    f"{self.environment}` and the next run's plan show what committed")  # fmt: skip
        self.fail(f"interrupted ({what}) during {step}; {left}", "run migrate again when ready")
        self.outcome = "interrupted"

    def failed_step(self) -> str:
        """Which step a failure stopped at, from what the report holds (for the failure artifact)."""
        if not self.target:
            return "target"
        if self.preflight is None:
            return "start"
        if any(r.status == "fail" for r in self.preflight):
            return "preflight"
        if (
            self.apply is None
            and self.plan is not None
            and any(": fails_on_data: " in note for note in self.plan.notes)
        ):
            return "plan"  # its data checks stopped the run before the backup
        if self.plan is not None and self.approval is None and self.approval_asked:
            return "approval"
        if self.apply is None:
            return "apply" if self.backup or self.backup_skipped else "backup"
        if self.verify is not None or self.verify_notes:
            return "verify"
        # "Nothing was changed" only where the apply proved it (a rollback, or an unmoved catalog).
        if "nothing was changed" in self.apply.outcome:
            return "apply"
        # "committed: step 1 ..." names steps that did; "not committed: ..." alone says none did.
        some_committed = re.search(r"(?<!not )\bcommitted\b", self.apply.outcome) is not None
        return "apply-committed" if some_committed else "apply (see the error)"

    def to_markdown(self) -> str:
        """The report as markdown (also readable as plain text in a terminal or log file)."""
        # What the dry run did is the Changes section's first line (a failing step fails it too).
        title = "dry run (the real run, rolled back)" if self.dry_run else "migrate"
        out = [f"# schemaflow {title}: environment `{self.environment}`", ""]
        out.append(f"- target: {mask_url(self.target) or '(not resolved)'}")
        if self.flow_run:
            out.append(f"- flow run: {self.flow_run}")
        if self.revision:
            out.append(
                f"- revision: {self.revision} (the worker's master file and one-offs are this commit's)"
            )
        out.append(f"- started: {self.started_at:%Y-%m-%d %H:%M:%S} UTC")
        out.append(f"- outcome: **{self.outcome.upper()}**" + (f": {self.error}" if self.error else ""))
        if self.hint:
            out.append(f"- what to do: {self.hint}")
        if self.settled:
            out.append(f"- settled: {self.settled}")
        if self.restore_command:
            out.append(
                f"- backup taken before this run (to restore only if data was lost): "
                f"`{mask_url(self.restore_command)}`"
            )
        out += ["", "## Preflight", ""]
        out += _failed_checks(self.preflight or [])
        out += _check_table(self.preflight) if self.preflight is not None else ["not run", ""]
        if self.plan is not None or self.outcome == "rejected":
            out += ["## Plan and approval", ""]
            out += self._approval_lines()
        out += ["## Backup", ""]
        out += self._backup_lines()
        out += ["## Changes", ""]
        out += self._apply_lines()
        out += ["## Verification", ""]
        out += _check_table(self.verify) if self.verify is not None else ["not run", ""]
        out += [f"- {note}" for note in self.verify_notes]
        return mask_url("\n".join(out).rstrip() + "\n")

    def _approval_lines(self) -> list[str]:
        lines = []
        if self.plan is not None:
            hazards = ", ".join(sorted(str(h) for h in self.plan.hazards())) or "none"
            lines.append(
                f"- plan `{self.plan.checksum}`: {len(self.plan.steps)} step(s), hazards: {hazards} "
                f"(artifact {artifact_key(self.environment, 'plan')})"
            )
        if self.approval is not None:
            a = self.approval
            lines.append(
                f"- approved ({a.source}) by {a.approved_by or 'an approver Prefect does not record'}"
                + (f"; reason: {a.reason}" if a.reason else "; no reason given")
                + (f"; hazards allowed: {', '.join(a.allowed_hazards)}" if a.allowed_hazards else "")
            )
        elif self.outcome == "rejected":
            lines.append(f"- **REJECTED**: {self.error}")
        elif self.plan is not None and self.approval_asked:
            lines.append("- not approved: nothing was applied")
        return [*lines, ""]

    def _backup_lines(self) -> list[str]:
        if self.backup:
            b = self.backup
            size = _human_size(b.get("size_bytes"))
            lines = [f"- file: `{b.get('path')}` ({size}, {b.get('seconds', '?')} s)"]
            if b.get("verified") is not None:
                lines.append(f"- verified with pg_restore --list: {'yes' if b['verified'] else 'NO'}")
            if b.get("pruned"):
                lines.append(f"- pruned older backups: {len(b['pruned'])}")
            return [*lines, ""]
        return [self.backup_skipped or "not run", ""]

    def _apply_lines(self) -> list[str]:
        result = self.apply
        if result is None:
            return ["not run", ""]
        if result.outcome.startswith("failed"):
            # It ran: say so, and what the database was left with.
            ran = (
                "was rolled back: nothing was changed" if "rolled back" in result.outcome else result.outcome
            )
            if result.dry_run:
                ran = f"failed: {result.outcome}"
            what = "statement(s) in the file" if result.method == "file" else "planned step(s)"
            # A one-off that failed stopped the run before the master's plan: no steps, no mode to name.
            facts = [f"{result.statements} {what}"] if result.statements or result.mode else []
            facts += [f"{result.attempts} attempt(s)", f"{result.seconds} s"]
            facts += [f"mode {result.mode}"] if result.mode else []
            return [
                f"- apply ran and {ran} ({', '.join(facts)})"
                + (f"; failed run recorded as history id {result.history_id}" if result.history_id else ""),
                "",
                *_step_table(result.steps),
            ]
        counts = result.counts()
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "no changes"
        verb = "would make" if result.dry_run else "made"
        how = "the whole file in one transaction" if result.method == "file" else "the planned steps"
        lines = [f"- {result.outcome}"] if result.dry_run else []
        lines += [
            f"- ran {how}" + (f" (plan `{result.plan_checksum[:12]}`)" if result.plan_checksum else ""),
            f"- mode: {result.mode}; {verb} {result.objects_changed} change(s): {summary}",
            f"- {result.seconds} s, {result.attempts} attempt(s), checksum `{result.checksum[:12]}`"
            + (f", history id {result.history_id}" if result.history_id else ""),
        ]
        lines += [
            f"- post-commit: {s.name}: {s.status} ({s.seconds} s){' — ' + s.detail if s.detail else ''}"
            for s in result.post_commit_steps
        ]
        if result.repaired:
            lines.append(f"- repaired: {result.repaired}")
        if result.steps:
            return [*lines, "", *_step_table(result.steps)]
        if result.changes:
            lines += ["", "| action | kind | name |", "|---|---|---|"]
            lines += [f"| {c.action} | {c.kind} | {c.name} |" for c in result.changes[:MAX_LISTED_CHANGES]]
            if len(result.changes) > MAX_LISTED_CHANGES:
                lines.append(f"| … | | {len(result.changes) - MAX_LISTED_CHANGES} more |")
        return [*lines, ""]


def _step_table(steps: list[dict[str, str]]) -> list[str]:
    """Each executed step: where it ran, its lock, how long it took and how long it waited for locks."""
    if not steps:
        return []
    lines = ["| # | status | where | lock | s | lock wait s | SQL |", "|---|---|---|---|---|---|---|"]
    for s in steps[:MAX_LISTED_CHANGES]:
        sql = clip(s["sql"], 300).replace("|", "/")
        lines.append(f"| {s['step']} | {s['status']} | {s['where']} | {s['lock']} | {s['seconds']} | "
                     f"{s['lock wait (s)']} | `{sql}` |")  # fmt: skip
    return [*lines, ""]


def _failed_checks(rows: list[CheckResult]) -> list[str]:
    """The failing checks above the table, each with its fix: the row a person needs, first."""
    failed = [r for r in rows if r.status == "fail"]
    lines = [
        f"> **✗ FAILED: {r.name}**: {mask_url(r.detail)}"
        + (f"  \n> what to do: {mask_url(r.hint)}" if r.hint else "")
        for r in failed
    ]
    return [*lines, ""] if lines else []


def _check_table(rows: list[CheckResult]) -> list[str]:
    lines = ["| status | check | detail |", "|---|---|---|"]
    for r in rows:
        detail = r.detail + (f" — {r.hint}" if r.hint and r.status in ("fail", "warn") else "")
        lines.append(f"| {STATUS_MARK.get(r.status, r.status)} | {r.name} | {detail.replace('|', '/')} |")
    return [*lines, ""]


def _human_size(size: Any) -> str:
    if not isinstance(size, int | float):
        return "size unknown"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def settle_previous_report(path: Path | None) -> str:
    """What to say about the environment's last report when its process died before finishing it.

    A report still reading RUNNING was left by a process killed mid-run (its own `finally` never
    ran); this run settles it, in its own report, which replaces that file.
    """
    try:
        text = path.read_text(encoding="utf-8") if path else ""
    except OSError:
        return ""
    if RUNNING_OUTCOME not in text:
        return ""
    run = re.search(r"^- flow run: (.+)$", text, re.MULTILINE)
    started = re.search(r"^- started: (.+)$", text, re.MULTILINE)
    return (
        f"the previous run's report ({run[1] if run else 'flow run unknown'}, started "
        f"{started[1] if started else 'unknown'}) was left RUNNING by a process that died; settled as "
        "abandoned: a killed process writes no history row, so what it committed is what this run finds "
        "done or half-done; this run plans against what is there, and its Changes say what it repaired"
    )


def write_report_log(path: Path, report: RunReport) -> Path:
    """Write the report to the environment's log file (replacing the previous run's); return the path.

    Mode 0600 from the moment it exists (and re-moded if an older run left it readable): the report
    names hosts, users, backup paths and errors that only the operator should read.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, REPORT_LOG_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), REPORT_LOG_MODE)
        out.write(report.to_markdown())
    return path


def publish_report(report: RunReport) -> None:
    """The run's markdown summary artifact, under a stable key so the UI keeps its history."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        markdown=report.to_markdown(),
        key=artifact_key(report.environment, "dry-run-report" if report.dry_run else "report"),
        description=report_description(report),
    )


def report_description(report: RunReport) -> str:
    """The artifact's one line, shown per entry in the UI's artifact history: the outcome first."""
    what = "dry run" if report.dry_run else "migrate"
    line = f"{report.outcome.upper()}: {what} of {report.environment}"
    if report.apply is not None:
        line += f", {report.apply.objects_changed} object(s) changed"
    if report.error:
        line += f"; {report.error[:120]}"
    return line
