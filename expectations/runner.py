"""Run the verification suites against a database with GX and return one row per expectation.

Each suite's batches become query assets on one ephemeral GX context; one checkpoint validates them
all, named after the run, and Data Docs are published into the folder of the run's environment
(expectations/datadocs.py). Rows carry no connection details, so they are safe to print and to
publish as Prefect artifacts.

GX is imported on the first run in a process, and what a run registers (context, source, assets,
suites, checkpoint) is kept for the next run with the same target and options: a second run only
validates.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from db.catalog.capabilities import detect_capabilities
from db.connection.connect import connect
from db.connection.urls import first_error_line, mask_url
from db.errors import CheckFailed, ConnectionFailed
from db.schema.expected import ExpectedSchema, expected_schema
from expectations.context import default_data_docs_dir, open_context, release
from expectations.spec import SHOWN_ROWS, UNEXPECTED_ROWS_LIMIT, Batch, Check, RunOptions, SuiteSpec, capped
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
# Roles without pg_read_all_settings cannot read the setting (pg_settings then has no row): a real
# server, since only PGlite loads TimescaleDB without preloading it.
SINGLE_CONNECTION_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
       AND coalesce((SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'), 'timescaledb')
           NOT LIKE '%timescaledb%'
"""
# GX materialises each batch into a temporary table; a standby, or a role without TEMP, cannot.
ADHOC_SITE = "adhoc"  # the Data Docs folder of runs that name no environment
TEMP_TABLES_SQL = "SELECT NOT pg_is_in_recovery() AND has_database_privilege(current_database(), 'TEMP')"
# A failed unexpected-rows check's first rows, read here because result_format BASIC gives GX's
# count only, and COMPLETE for the run would also return the column expectations' unexpected values
# from the event tables. Run on failure only, on the check's capped query (which bounds the sort),
# ordered so a message reads the same from run to run.
SHOWN_ROWS_SQL = "SELECT * FROM ({query}) AS unexpected ORDER BY unexpected::text LIMIT {limit}"
# A failure message waits this long for its rows at most; past it the message gives the count only.
SHOWN_ROWS_TIMEOUT_SQL = "SET LOCAL statement_timeout = '15s'"


@dataclass
class SuitesReport:
    """The outcome of one run: overall success, one row per expectation, and the Data Docs index."""

    success: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    data_docs_index: Path | None = None
    seconds: float = 0.0
    # http:// address of the index while `make ui` serves Data Docs (a browser refuses file:// links)
    data_docs_url: str | None = None
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
    run_name: str | None = None,
    environment: str | None = None,
) -> SuitesReport:
    """Validate the database at `url`: the last `window_days` days of time series, or everything if `full`.

    `suites` limits the run to some suite names; `build_docs=False` skips Data Docs. Data Docs go to
    `data_docs_dir`, else to the environment's folder under the default one (`adhoc` without one);
    the run is named `run_name`. Inside a Prefect run both default to the flow run's name and the
    task's (or flow's) `environment`, so every caller gets one site per environment and runs named
    as in the UI.
    """
    started = time.perf_counter()
    with connect(url, autocommit=True) as conn:
        mode = detect_capabilities(conn).mode
        row = conn.execute(SINGLE_CONNECTION_SQL).fetchone()
        pooled = not (row and row[0])
        row = conn.execute(TEMP_TABLES_SQL).fetchone()
        temp_tables = bool(row and row[0])
        options = RunOptions(window_days=window_days, full=full, mode=mode)
        specs = [s for s in build_suites(options) if suites is None or s.name in suites]
        rows = [_not_applicable_row(s) for s in specs if s.not_applicable]
        broken = _unplannable_batches(conn, [b for s in specs if not s.not_applicable for b in s.batches])
    runnable = [
        SuiteSpec(s.name, [b for b in s.batches if b.asset not in broken])
        for s in specs
        if not s.not_applicable
    ]
    for spec in specs:
        rows += [
            _error_row(spec.name, check.name, broken[b.asset])
            for b in spec.batches
            if b.asset in broken
            for check in b.checks
        ]
    flow_run = _flow_run()
    run_name = run_name or flow_run.get("name") or datetime.now(UTC).strftime("run-%Y%m%dT%H%M%SZ")
    environment = environment or flow_run.get("environment")
    # A run against a bare URL (no environment) gets a site of its own, never another environment's.
    docs_dir = data_docs_dir or default_data_docs_dir() / (environment or ADHOC_SITE)
    index = None
    runnable = [s for s in runnable if s.batches]
    if runnable:
        key = (url, options, tuple(s.name for s in runnable), tuple(sorted(broken)), pooled, temp_tables)
        validated, index = _validate(key, runnable, docs_dir if build_docs else None, run_name)
        _name_unexpected_rows(url, runnable, validated)
        rows += validated
    url_of_index = None
    if index is not None:
        from expectations.datadocs import docs_url

        url_of_index = docs_url(index)
    return SuitesReport(
        success=all(r["success"] for r in rows),
        rows=rows,
        data_docs_index=index,
        data_docs_url=url_of_index,
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


def _error_row(suite: str, check: str, message: str) -> dict[str, Any]:
    return {
        "suite": suite,
        "expectation": check,
        "success": False,
        "observed_value": f"error: {mask_url(message)[:300]}",
        "unexpected_count": None,
    }


def _unplannable_batches(conn: psycopg.Connection, batches: list[Batch]) -> dict[str, str]:
    """Batches whose query the server cannot plan (a missing table...), with the server's message.

    GX materialises a batch before any expectation runs, so a broken batch query would abort the
    whole checkpoint; planning it first (EXPLAIN, no execution) turns it into one error row per check.
    """
    broken = {}
    for batch in batches:
        try:
            conn.execute(f"EXPLAIN {batch.query}")  # type: ignore[arg-type]  # our own SQL text
        except psycopg.Error as exc:
            broken[batch.asset] = str(exc).strip().splitlines()[0]
    return broken


def _name_unexpected_rows(url: str, specs: list[SuiteSpec], rows: list[dict[str, Any]]) -> None:
    """Say in each failed unexpected-rows row which rows are wrong, not only how many.

    Reads at most SHOWN_ROWS of each failed check's rows, with the batch's query in place of
    {batch}; a run where everything passes opens no connection. Rows that cannot be read (timeout,
    lost connection) leave the count, saying why.
    """
    checks = {
        (spec.name, check.name): (batch, check)
        for spec in specs
        for batch in spec.batches
        for check in batch.checks
        if check.query is not None
    }
    failed = [
        (row, *checks[(row["suite"], row["expectation"])])
        for row in rows
        if not row["success"]
        and (row["suite"], row["expectation"]) in checks
        and isinstance(row["unexpected_count"], int)
        and not str(row["observed_value"]).startswith("error")
    ]
    if not failed:
        return
    try:
        conn = connect(url, autocommit=True)
    except ConnectionFailed as exc:
        for row, _batch, _check in failed:
            row["observed_value"] = f"{_count_text(row['unexpected_count'])} (rows not shown: {exc})"
        return
    with conn:
        for row, batch, check in failed:
            row["observed_value"] = _unexpected_rows_text(conn, batch, check, row["unexpected_count"])


def _unexpected_rows_text(conn: psycopg.Connection, batch: Batch, check: Check, count: int) -> str:
    """'3 unexpected rows: a; b; c', naming up to SHOWN_ROWS of them and counting the rest."""
    assert check.query is not None  # only unexpected-rows checks get here
    query = sql.SQL(SHOWN_ROWS_SQL).format(
        query=sql.SQL(capped(check.query).replace("{batch}", f"({batch.query})")),
        limit=sql.Literal(SHOWN_ROWS),
    )
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(SHOWN_ROWS_TIMEOUT_SQL)
            shown = cur.execute(query).fetchall()
    except psycopg.Error as exc:
        return f"{_count_text(count)} (rows not shown: {first_error_line(exc)[:200]})"
    if not shown:  # the rows were gone by the time they were read
        return _count_text(count)
    text = "; ".join(_row_text(check.row_text, r) for r in shown)
    if count >= UNEXPECTED_ROWS_LIMIT:
        return f"{_count_text(count)}: {text} and more"
    more = count - len(shown)
    return f"{_count_text(count)}: {text}" + (f" and {more} more" if more > 0 else "")


def _count_text(count: int) -> str:
    if count >= UNEXPECTED_ROWS_LIMIT:
        return f"at least {UNEXPECTED_ROWS_LIMIT} unexpected rows (capped)"
    return f"{count} unexpected row{'' if count == 1 else 's'}"


def _row_text(template: str | None, row: dict[str, Any]) -> str:
    values = {k: "none" if v is None else v for k, v in row.items()}
    if template is None:
        return ", ".join(f"{k}={v}" for k, v in values.items())
    return template.format_map(values)


def _flow_run() -> dict[str, str]:
    """The current Prefect flow run's name and its task's (or flow's) `environment`, inside a run."""
    if "prefect" not in sys.modules:  # never import Prefect just to ask
        return {}
    try:
        from prefect.runtime import flow_run, task_run

        name = flow_run.name
        # The task's own argument first: deployment flows fix their environment in code, not a parameter.
        environment = (task_run.parameters or {}).get("environment") or (flow_run.parameters or {}).get(
            "environment"
        )
    except Exception:  # outside a run the runtime has nothing to say; that is not an error
        return {}
    return {k: str(v) for k, v in (("name", name), ("environment", environment)) if v}


@dataclass
class _Prepared:
    """What one target and set of options registered on a context, reused by the next identical run."""

    context: Any
    datasource: Any
    checkpoint: Any
    suites: list[Any]


_prepared: dict[tuple, _Prepared] = {}


def _prepare(key: tuple, specs: list[SuiteSpec]) -> _Prepared:
    """Register assets, suites and validation definitions once per process and key; one checkpoint."""
    if key in _prepared:
        return _prepared[key]
    url, _options, _names, _broken, pooled, temp_tables = key
    try:
        context, datasource = open_context(url, pooled=pooled, temp_tables=temp_tables)
    except Exception as exc:  # GX wraps connection failures in its own types; mask whatever it says
        raise CheckFailed(
            f"GX could not open the database: {mask_url(str(exc)).splitlines()[0]}",
            hint="check the URL and that the server is reachable",
        ) from None
    import great_expectations as gx  # imported by open_context; this only names it

    definitions, suites = [], []
    for spec in specs:
        for batch in spec.batches:
            asset = datasource.add_query_asset(batch.asset, query=batch.query)
            batch_definition = asset.add_batch_definition_whole_table(f"{batch.asset} batch")
            # All expectations at once: add_expectation() re-serialises the suite into its store each time.
            expectations = [check.build() for check in batch.checks]
            suite = context.suites.add(
                gx.ExpectationSuite(name=f"{spec.name}.{batch.asset}", expectations=expectations)
            )
            suites.append(suite)
            definitions.append(
                context.validation_definitions.add(
                    gx.ValidationDefinition(
                        name=f"{spec.name}.{batch.asset}", data=batch_definition, suite=suite
                    )
                )
            )
    # No UpdateDataDocsAction: Data Docs are published by expectations/datadocs.py, once per run.
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="schemaflow_verification", validation_definitions=definitions, result_format=RESULT_FORMAT
        )
    )
    _prepared.clear()  # one target per process at a time; a new key starts from a new context
    _prepared[key] = _Prepared(context, datasource, checkpoint, suites)
    return _prepared[key]


def _validate(
    key: tuple, specs: list[SuiteSpec], docs_dir: Path | None, run_name: str
) -> tuple[list[dict[str, Any]], Path | None]:
    """Run the (prepared) checkpoint under `run_name`; publish Data Docs into `docs_dir` if given."""
    from great_expectations.core.run_identifier import RunIdentifier

    prepared = _prepare(key, specs)
    try:
        result = prepared.checkpoint.run(run_id=RunIdentifier(run_name=run_name, run_time=datetime.now(UTC)))
    except Exception as exc:  # a batch that failed while materialising: say what, never the URL
        raise CheckFailed(
            f"GX could not validate the database: {mask_url(str(exc)).splitlines()[0]}",
            hint="see the server log; re-run with fewer suites (--no-gx for catalog checks only)",
        ) from None
    finally:
        release(prepared.datasource)  # drops this run's temporary tables with the connection
    rows = []
    for validation in result.run_results.values():
        suite_name = validation.suite_name.split(".", 1)[0]
        for expectation_result in validation.results:
            rows.append(_row(suite_name, expectation_result))
    index = None
    if docs_dir is not None:
        from expectations.datadocs import publish

        index = publish(docs_dir, prepared.suites, dict(result.run_results))
    return rows, index


def _row(suite: str, result: Any) -> dict[str, Any]:
    """One expectation's outcome; an expectation that raised reports its (masked) error as observed."""
    config = result.expectation_config
    details = result.result or {}
    observed = details.get("observed_value")
    unexpected = details.get("unexpected_count")
    meta = config.meta or {}
    if meta.get("counts_rows"):  # the batch or the check's query lists offenders: its size is the count
        unexpected = observed
    if (
        config.type == "unexpected_rows_expectation"
        and observed is not None
        and observed >= UNEXPECTED_ROWS_LIMIT
    ):
        observed = f">= {UNEXPECTED_ROWS_LIMIT} rows (capped)"
    message = _exception_message(result.exception_info or {})
    if message:
        observed = f"error: {mask_url(message)[:300]}"
    return {
        "suite": suite,
        "expectation": meta.get("check") or config.type,
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
