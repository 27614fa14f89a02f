"""Run the verification suites against a database with GX and return one row per expectation.

Each suite's batches become query assets on one ephemeral GX context; one checkpoint validates them
all and builds Data Docs into a known folder. Rows carry no connection details, so they are safe to
print and to publish as Prefect artifacts.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.catalog.capabilities import detect_capabilities
from db.connection.connect import connect
from db.connection.urls import mask_url
from db.errors import CheckFailed
from db.schema.expected import ExpectedSchema, expected_schema
from expectations.context import default_data_docs_dir, open_context
from expectations.spec import UNEXPECTED_ROWS_LIMIT, RunOptions, SuiteSpec
from expectations.suites import event_invariants, hypertables, metrics_daily, table_shape

SUITE_BUILDERS: list[Callable[[ExpectedSchema, RunOptions], SuiteSpec]] = [
    table_shape.build,
    hypertables.build,
    event_invariants.build,
    metrics_daily.build,
]
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
# TimescaleDB loaded without shared_preload_libraries: only an embedded server (PGlite) does that, and
# it serves one connection at a time, so GX must not keep idle pooled connections there.
SINGLE_CONNECTION_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
       AND coalesce(current_setting('shared_preload_libraries', true), '') NOT LIKE '%timescaledb%'
"""


@dataclass
class SuitesReport:
    """The outcome of one run: overall success, one row per expectation, and the Data Docs index."""

    success: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    data_docs_index: Path | None = None
    seconds: float = 0.0
    mode: str = ""

    def failed_rows(self) -> list[dict[str, Any]]:
        """Rows whose expectation failed (not-applicable rows count as passed)."""
        return [r for r in self.rows if not r["success"]]


def build_suites(options: RunOptions, expected: ExpectedSchema | None = None) -> list[SuiteSpec]:
    """The suites for this run, built from the master file's expectations and the run options."""
    expected = expected or expected_schema()
    return [build(expected, options) for build in SUITE_BUILDERS]


def run_suites(
    url: str,
    *,
    window_days: int = 7,
    full: bool = False,
    data_docs_dir: Path | None = None,
    suites: list[str] | None = None,
    build_docs: bool = True,
) -> SuitesReport:
    """Validate the database at `url`: the last `window_days` days of time series, or everything if `full`.

    `suites` limits the run to some suite names; `build_docs=False` skips Data Docs (about a second).
    """
    started = time.perf_counter()
    with connect(url, autocommit=True) as conn:
        mode = detect_capabilities(conn).mode
        row = conn.execute(SINGLE_CONNECTION_SQL).fetchone()
        pooled = not (row and row[0])
    options = RunOptions(window_days=window_days, full=full, mode=mode)
    specs = [s for s in build_suites(options) if suites is None or s.name in suites]
    rows = [_not_applicable_row(s) for s in specs if s.not_applicable]
    runnable = [s for s in specs if not s.not_applicable]
    docs_dir = data_docs_dir or default_data_docs_dir()
    index = None
    if runnable:
        validated, index = _validate(url, runnable, docs_dir, build_docs=build_docs, pooled=pooled)
        rows += validated
    return SuitesReport(
        success=all(r["success"] for r in rows),
        rows=rows,
        data_docs_index=index,
        seconds=time.perf_counter() - started,
        mode=mode,
    )


def _not_applicable_row(spec: SuiteSpec) -> dict[str, Any]:
    return {
        "suite": spec.name,
        "expectation": "not applicable",
        "success": True,
        "observed_value": spec.not_applicable,
        "unexpected_count": 0,
    }


def _validate(
    url: str, specs: list[SuiteSpec], docs_dir: Path, *, build_docs: bool, pooled: bool
) -> tuple[list[dict[str, Any]], Path | None]:
    """Register assets, suites and validation definitions, run one checkpoint, build Data Docs."""
    import great_expectations as gx

    try:
        context, datasource = open_context(url, docs_dir, pooled=pooled)
    except Exception as exc:  # GX wraps connection failures in its own types; mask whatever it says
        raise CheckFailed(
            f"GX could not open the database: {mask_url(str(exc)).splitlines()[0]}",
            hint="check the URL and that the server is reachable",
        ) from None
    definitions = []
    for spec in specs:
        for batch in spec.batches:
            asset = datasource.add_query_asset(batch.asset, query=batch.query)
            batch_definition = asset.add_batch_definition_whole_table(f"{batch.asset} batch")
            # All expectations at once: add_expectation() re-serialises the suite into its store each time.
            expectations = [check.build() for check in batch.checks]
            suite = context.suites.add(
                gx.ExpectationSuite(name=f"{spec.name}.{batch.asset}", expectations=expectations)
            )
            definitions.append(
                context.validation_definitions.add(
                    gx.ValidationDefinition(
                        name=f"{spec.name}.{batch.asset}", data=batch_definition, suite=suite
                    )
                )
            )
    # No UpdateDataDocsAction: it rebuilds the whole site once per validation (seconds each).
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="schemaflow_verification", validation_definitions=definitions, result_format=RESULT_FORMAT
        )
    )
    result = checkpoint.run()
    if build_docs:
        # The ephemeral context only knows this run: pages of earlier runs would be unlinked orphans.
        for owned in ("validations", "expectations"):
            shutil.rmtree(docs_dir / owned, ignore_errors=True)
        context.build_data_docs()
    rows = []
    for validation in result.run_results.values():
        suite_name = validation.suite_name.split(".", 1)[0]
        for expectation_result in validation.results:
            rows.append(_row(suite_name, expectation_result))
    index = docs_dir / "index.html"
    return rows, index if build_docs and index.exists() else None


def _row(suite: str, result: Any) -> dict[str, Any]:
    """One expectation's outcome; an expectation that raised reports its (masked) error as observed."""
    config = result.expectation_config
    details = result.result or {}
    observed = details.get("observed_value")
    unexpected = details.get("unexpected_count")
    if config.type == "unexpected_rows_expectation":
        unexpected = observed
        if observed is not None and observed >= UNEXPECTED_ROWS_LIMIT:
            observed = f">= {UNEXPECTED_ROWS_LIMIT} rows (capped)"
    message = _exception_message(result.exception_info or {})
    if message:
        observed = f"error: {mask_url(message)[:300]}"
    return {
        "suite": suite,
        "expectation": (config.meta or {}).get("check") or config.type,
        "success": bool(result.success),
        "observed_value": _plain(observed),
        "unexpected_count": unexpected if unexpected is not None else (0 if result.success else None),
    }


def _exception_message(info: dict[str, Any]) -> str | None:
    """The first line of the error an expectation raised; GX nests it per metric for some expectations."""
    candidates = [info, *(v for v in info.values() if isinstance(v, dict))]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            text = str(candidate.get("exception_message") or "error").strip()
            return text.splitlines()[0] if text else "error"
    return None


def _plain(value: Any) -> Any:
    """Observed values as JSON-friendly scalars (GX may return numpy or datetime values)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
