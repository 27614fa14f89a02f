"""Batched backfills (`-- schemaflow: batch N`): an UPDATE run N rows at a time, keyed on the primary key,
finished only when its WHERE matches no row.

`UPDATE t SET ... WHERE <not yet done>` becomes passes of batches; each batch is one short
transaction of two statements:

    SELECT the last <pk> of (SELECT <pk> FROM t WHERE <not yet done> AND (<pk>) > (<last key>)
                             ORDER BY <pk> LIMIT N)                                   -> <upper>
    UPDATE t SET ... WHERE <not yet done> AND (<pk>) > (<last key>) AND (<pk>) <= (<upper>)

with SET LOCAL lock_timeout and statement_timeout, and where it stands (pass, last key, counts)
written to schemaflow.migration_backfill in the same transaction: after a kill -9 the next run
starts after the last committed batch and never redoes one. An UPDATE takes RowExclusiveLock
(inserts never wait on it) and row locks on its batch only, held for one batch; a batch that meets
a lock is retried with db/deploy's backoff.

Rows written while it runs: before the first batch a row trigger (db/versions/backfill_trigger.py)
starts applying the SET to every row written that matches the WHERE. When a pass's cursor runs
off the end, the next pass starts again from the first key; the backfill is done only when a pass
finds no matching row from the start, and that is recorded in the transaction that looked. Writers
the trigger does not see (session_replication_role = replica) can outrun the passes: after
`max_passes` passes in one run it counts what still matches and stops with "N rows still match
after K passes" (BackfillNotConverged, recorded as failed, never success); the next run continues.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeVar

import psycopg
from pglast import ast, parse_sql
from pglast.stream import RawStream
from psycopg import sql

from db.connection.urls import first_error_line
from db.deploy.session import RETRYABLE_ERRORS, backoff_seconds
from db.errors import ApplyFailed, ConfigError
from db.versions.backfill_trigger import SKIP_SQL, drop_trigger, install_trigger, set_columns, trigger_names

DEFAULT_MAX_PASSES = 5
PRIMARY_KEY_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = %s::regclass AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)
"""
PROGRESS_SQL = """
SELECT last_key, batches, rows_done, passes, left_matching, finished FROM schemaflow.migration_backfill
WHERE version = %s AND statement = %s
"""
# Every backfill that has started, for `versions`: a pending file with rows here is partly done.
ALL_PROGRESS_SQL = """
SELECT version, statement, batches, rows_done, passes, left_matching, finished, updated_at
FROM schemaflow.migration_backfill ORDER BY version, statement
"""
SAVE_PROGRESS_SQL = """
INSERT INTO schemaflow.migration_backfill
    (version, statement, last_key, batches, rows_done, passes, left_matching, finished)
VALUES (%(version)s, %(statement)s, %(last_key)s, %(batches)s, %(rows)s, %(passes)s, %(left)s, %(finished)s)
ON CONFLICT (version, statement) DO UPDATE
SET last_key = EXCLUDED.last_key, batches = EXCLUDED.batches, rows_done = EXCLUDED.rows_done,
    passes = EXCLUDED.passes, left_matching = EXCLUDED.left_matching, finished = EXCLUDED.finished,
    updated_at = now()
"""
KEY_ALIAS = "sf_key_{}"
SET_LOCAL_SQL = "SELECT set_config(%s, %s, true)"
T = TypeVar("T")


class BackfillNotConverged(ApplyFailed):
    """Writers kept adding matching rows faster than the passes removed them; the next run continues."""


@dataclass
class BackfillProgress:
    """One batched UPDATE: where it stands in all (as recorded) and what this run did of it."""

    statement: int
    table: str
    last_key: list[str] | None = None  # the cursor of the pass under way; None at a pass's start
    batches: int = 0
    rows: int = 0
    passes: int = 0  # passes whose cursor ran off the end
    left_matching: int | None = None  # rows still matching when it last stopped; 0 once converged
    converged: bool = False
    batches_this_run: int = 0
    rows_this_run: int = 0
    passes_this_run: int = 0
    resumed_after: int = 0  # batches a previous (interrupted) run had committed

    def describe(self) -> str:
        resumed = f"resumed after batch {self.resumed_after}; " if self.resumed_after else ""
        ran = (
            f"{resumed}{self.batches_this_run} batch(es), {self.rows_this_run} row(s) this run, "
            f"{self.batches} batch(es) and {self.rows} row(s) in all"
        )
        if self.converged:
            last = "the last found no matching row: 0 rows match"
            return f"{self.table}: {ran}; {self.passes} pass(es), {last}"
        return (
            f"{self.table}: not converged: {self.left_matching} row(s) still match after "
            f"{self.passes} pass(es); {ran} so far"
        )


@dataclass(frozen=True)
class BatchedUpdate:
    """An UPDATE split into the parts a batch statement is built from (all deparsed by pglast)."""

    table: str  # as written, e.g. public.listener_events
    target: str  # the relation with its alias, e.g. public.listener_events AS e
    qualifier: str  # what qualifies its columns: the alias, else the table
    update: str  # UPDATE <target> SET ... (no WHERE)
    where: str


def is_update(statement: str) -> bool:
    parsed = parse_sql(statement)
    return len(parsed) == 1 and isinstance(parsed[0].stmt, ast.UpdateStmt)


def split_update(statement: str, file_name: str) -> BatchedUpdate:
    """The parts of a batchable UPDATE; ConfigError for one that cannot be batched safely."""
    stmt = parse_sql(statement)[0].stmt
    assert isinstance(stmt, ast.UpdateStmt)
    if stmt.whereClause is None:
        raise ConfigError(
            f"{file_name}: a batched UPDATE needs a WHERE that says which rows are not done yet",
            hint="e.g. UPDATE t SET new_col = ... WHERE new_col IS NULL",
        )
    if stmt.fromClause or stmt.returningClause or stmt.withClause:
        raise ConfigError(
            f"{file_name}: a batched UPDATE may not have FROM, RETURNING or WITH",
            hint="use a subquery in SET or WHERE, or drop the batch directive",
        )
    rel = stmt.relation
    assert rel is not None  # the parser always sets an UPDATE's relation
    table = f"{rel.schemaname}.{rel.relname}" if rel.schemaname else str(rel.relname)
    qualifier = str(rel.alias.aliasname) if rel.alias else str(rel.relname)
    update = RawStream()(ast.UpdateStmt(relation=rel, targetList=stmt.targetList))
    return BatchedUpdate(table, RawStream()(rel), qualifier, update, RawStream()(stmt.whereClause))


def run_batched_update(
    conn: psycopg.Connection,
    *,
    version: str,
    file_name: str,
    index: int,
    statement: str,
    batch_rows: int,
    lock_timeout: str,
    statement_timeout: str,
    lock_retries: int,
    max_passes: int = DEFAULT_MAX_PASSES,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> BackfillProgress:
    """Run one UPDATE in passes of batches of `batch_rows` until a pass finds no matching row.

    Resumes after the last committed batch; raises BackfillNotConverged when `max_passes` passes of
    this run still left rows matching."""
    parts = split_update(statement, file_name)
    columns = set_columns(statement, file_name)
    keys = conn.execute(PRIMARY_KEY_SQL, (parts.table,)).fetchall()
    if not keys:
        raise ConfigError(
            f"{file_name}: {parts.table} has no primary key to batch on",
            hint="add one first, or drop the batch directive",
        )
    progress = read_progress(conn, version, index, parts.table)
    names = trigger_names(version, index)
    tx = _Transactions(conn, lock_timeout, statement_timeout, lock_retries, sleep, file_name)
    if progress.converged:
        drop_trigger(conn, parts.table, names, tx.run)  # a run killed between converging and the drop
        return progress
    if install_trigger(conn, parts, columns, names, tx.run):
        log(f"{file_name}: trigger {names[0]} applies the SET to rows written until the backfill converges")
    first, after = (
        _batch_statement(parts, keys, batch_rows, with_key=False),
        _batch_statement(parts, keys, batch_rows, with_key=True),
    )
    clock = time.monotonic()
    while not progress.converged:
        step = first if progress.last_key is None else after
        before = progress
        progress, rows = tx.run(partial(_one_batch, conn, step, before, version))
        if progress.batches > before.batches:
            rate = progress.rows_this_run / max(time.monotonic() - clock, 1e-6)
            log(
                f"{file_name}: batch {progress.batches}: {rows} row(s), {progress.rows} in all, "
                f"pass {progress.passes + 1} ({rate:.0f} rows/s)"
            )
        elif not progress.converged and progress.passes_this_run >= max_passes:
            progress = tx.run(partial(_count_left, conn, parts, progress, version))
            if not progress.converged:
                raise BackfillNotConverged(
                    f"{file_name} is partly done: {progress.describe()}",
                    hint="the rows were written by sessions the backfill's trigger does not see (or a "
                    "session changes them back); the backfill is partly done: run migrate again to "
                    "continue, or stop those writers first",
                )
    log(f"{file_name}: {progress.describe()}")
    drop_trigger(conn, parts.table, names, tx.run)
    return progress


def read_progress(conn: psycopg.Connection, version: str, index: int, table: str) -> BackfillProgress:
    """Where one UPDATE stands as recorded (nothing recorded: not started)."""
    progress = BackfillProgress(statement=index, table=table)
    row = conn.execute(PROGRESS_SQL, (version, index)).fetchone()
    if row:
        progress.last_key, progress.batches, progress.rows, progress.passes = (
            row[0], int(row[1]), int(row[2]), int(row[3])
        )  # fmt: skip
        progress.left_matching = None if row[4] is None else int(row[4])
        progress.converged = bool(row[5])
        progress.resumed_after = progress.batches
    return progress


def started_backfills(conn: psycopg.Connection) -> dict[str, list[dict]]:
    """version -> the recorded state of each of its UPDATEs; {} before any backfill started."""
    if conn.execute("SELECT to_regclass('schemaflow.migration_backfill')").fetchone() in (None, (None,)):
        return {}
    found: dict[str, list[dict]] = {}
    for row in conn.execute(ALL_PROGRESS_SQL).fetchall():
        found.setdefault(row[0], []).append(
            {"statement": row[1], "batches": row[2], "rows": row[3], "passes": row[4],
             "left_matching": row[5], "finished": row[6], "updated_at": row[7]}
        )  # fmt: skip
    return found


def describe_started(state: dict) -> str:
    """A started backfill of a file not yet applied, as `versions` shows it."""
    left = "" if state["left_matching"] is None else f", {state['left_matching']} row(s) still matched"
    done = "converged" if state["finished"] else "partly done"
    return (
        f"statement {state['statement']}: {done}: {state['batches']} batch(es), {state['rows']} "
        f"row(s) so far, {state['passes']} pass(es){left} (recorded {state['updated_at']:%Y-%m-%d %H:%M:%S})"
    )


@dataclass(frozen=True)
class BatchStatements:
    """A batch's two statements: the last key of the next N rows to do, then the UPDATE of that range."""

    upper: sql.Composed  # parameters: the previous batch's last key (with_key)
    update: sql.Composed  # parameters: that key (with_key), then the upper key


def _batch_statement(parts: BatchedUpdate, keys: list, batch_rows: int, *, with_key: bool) -> BatchStatements:
    # A key range rather than a join on the keys: each chunk's primary key index serves the range,
    # where a join of N keys against a hypertable scans every chunk once per batch.
    names = [sql.Identifier(str(k[0])) for k in keys]
    aliases = [sql.Identifier(KEY_ALIAS.format(n)) for n in range(len(keys))]
    key_list = sql.SQL(", ").join(names)
    bound = sql.SQL(", ").join(sql.SQL("%s::{}").format(sql.SQL(str(k[1]))) for k in keys)
    where: sql.Composable = sql.SQL("({})").format(sql.SQL(parts.where))
    if with_key:
        where = sql.SQL("{} AND ({}) > ({})").format(where, key_list, bound)
    upper = sql.SQL(
        "SELECT {last} FROM (SELECT {selected} FROM {target} WHERE {where} ORDER BY {keys} "
        "LIMIT {limit}) AS batch ORDER BY {desc} LIMIT 1"
    ).format(
        selected=sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(n, a) for n, a in zip(names, aliases, strict=True)
        ),
        target=sql.SQL(parts.target),
        where=where,
        keys=key_list,
        limit=sql.Literal(batch_rows),
        last=sql.SQL(", ").join(sql.SQL("{}::text").format(a) for a in aliases),
        desc=sql.SQL(", ").join(sql.SQL("{} DESC").format(a) for a in aliases),
    )
    update = sql.SQL("{update} WHERE {where} AND ({keys}) <= ({bound})").format(
        update=sql.SQL(parts.update), where=where, keys=key_list, bound=bound
    )
    return BatchStatements(upper, update)


@dataclass(frozen=True)
class _Transactions:
    """Short transactions under the environment's limits, retried on a lock timeout with backoff."""

    conn: psycopg.Connection
    lock_timeout: str
    statement_timeout: str
    lock_retries: int
    sleep: Callable[[float], None]
    file_name: str

    def run(self, work: Callable[[], T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.conn.transaction():
                    for name, value in (
                        ("lock_timeout", self.lock_timeout),
                        ("statement_timeout", self.statement_timeout),
                    ):
                        self.conn.execute(SET_LOCAL_SQL, (name, value))
                    result = work()
                return result
            except psycopg.Error as exc:
                if isinstance(exc, RETRYABLE_ERRORS) and attempt <= self.lock_retries:
                    self.sleep(backoff_seconds(attempt))
                    continue
                raise ApplyFailed(
                    f"{self.file_name}: a backfill transaction failed after {attempt} attempt(s): "
                    f"{first_error_line(exc)}; the batches before it are committed",
                    hint="fix the cause and run migrate again: the backfill resumes after its last batch",
                ) from None


def _one_batch(
    conn: psycopg.Connection, statement: BatchStatements, before: BackfillProgress, version: str
) -> tuple[BackfillProgress, int]:
    """One batch and its progress row, in the caller's transaction: the next state and rows updated.

    No row after the cursor ends the pass; no row from the first key means the WHERE matches no row."""
    conn.execute(SKIP_SQL)
    row = conn.execute(statement.upper, before.last_key or ()).fetchone()
    if row is None:
        after = replace(
            before, last_key=None, passes=before.passes + 1, passes_this_run=before.passes_this_run + 1
        )
        if before.last_key is None:
            after.converged, after.left_matching = True, 0
        _save(conn, version, after)
        return after, 0
    key = [str(v) for v in row]
    rows = conn.execute(statement.update, [*(before.last_key or ()), *key]).rowcount
    after = replace(
        before, last_key=key, batches=before.batches + 1, rows=before.rows + rows,
        batches_this_run=before.batches_this_run + 1, rows_this_run=before.rows_this_run + rows,
    )  # fmt: skip
    _save(conn, version, after)
    return after, rows


def _count_left(
    conn: psycopg.Connection, parts: BatchedUpdate, before: BackfillProgress, version: str
) -> BackfillProgress:
    """Count what still matches when the passes ran out; none left (writers paused) is convergence."""
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.SQL(parts.target), sql.SQL(parts.where))
    ).fetchone()
    left = int(row[0]) if row else 0
    after = replace(before, left_matching=left, converged=left == 0)
    _save(conn, version, after)
    return after


def _save(conn: psycopg.Connection, version: str, p: BackfillProgress) -> None:
    conn.execute(
        SAVE_PROGRESS_SQL,
        {"version": version, "statement": p.statement, "last_key": p.last_key, "batches": p.batches,
         "rows": p.rows, "passes": p.passes, "left": p.left_matching, "finished": p.converged},
    )  # fmt: skip
