"""Batched backfills (`-- schemaflow: batch N`): an UPDATE run N rows at a time, keyed on the primary key.

`UPDATE t SET ... WHERE <not yet done>` becomes, per batch, one short transaction of two statements:

    SELECT the last <pk> of (SELECT <pk> FROM t WHERE <not yet done> AND (<pk>) > (<last key>)
                             ORDER BY <pk> LIMIT N)                                   -> <upper>
    UPDATE t SET ... WHERE <not yet done> AND (<pk>) > (<last key>) AND (<pk>) <= (<upper>)

with SET LOCAL lock_timeout, and the batch's last key and counts written to
schemaflow.migration_backfill in the same transaction: after a kill -9 the next run starts after
the last committed batch and never redoes one. An UPDATE takes RowExclusiveLock (inserts never wait
on it) and row locks on its batch only, held for one batch; a batch that meets a lock is retried
with db/deploy's backoff. Rows written behind the cursor while it runs are the column default's (or
the application's) job; what still matches the WHERE at the end is counted and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from pglast import ast, parse_sql
from pglast.stream import RawStream
from psycopg import sql

from db.deploy.session import RETRYABLE_ERRORS, backoff_seconds
from db.errors import ApplyFailed, ConfigError

PRIMARY_KEY_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = %s::regclass AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)
"""
PROGRESS_SQL = """
SELECT last_key, batches, rows_done, finished FROM schemaflow.migration_backfill
WHERE version = %s AND statement = %s
"""
SAVE_PROGRESS_SQL = """
INSERT INTO schemaflow.migration_backfill (version, statement, last_key, batches, rows_done, finished)
VALUES (%(version)s, %(statement)s, %(last_key)s, %(batches)s, %(rows)s, %(finished)s)
ON CONFLICT (version, statement) DO UPDATE
SET last_key = coalesce(EXCLUDED.last_key, migration_backfill.last_key),
    batches = migration_backfill.batches + EXCLUDED.batches,
    rows_done = migration_backfill.rows_done + EXCLUDED.rows_done,
    finished = EXCLUDED.finished, updated_at = now()
"""
KEY_ALIAS = "sf_key_{}"


@dataclass
class BackfillProgress:
    """One batched UPDATE: its batches and rows in total, and what this run did of them."""

    statement: int
    table: str
    batches: int = 0
    rows: int = 0
    batches_this_run: int = 0
    rows_this_run: int = 0
    resumed_after: int = 0  # batches a previous (interrupted) run had committed
    left_matching: int = 0  # rows still matching the WHERE after the pass

    def describe(self) -> str:
        resumed = f"resumed after batch {self.resumed_after}; " if self.resumed_after else ""
        left = f"; {self.left_matching} row(s) written meanwhile still match" if self.left_matching else ""
        return (
            f"{self.table}: {resumed}{self.batches_this_run} batch(es), {self.rows_this_run} row(s) "
            "this run, "
            f"{self.batches} batch(es) and {self.rows} row(s) in all{left}"
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
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> BackfillProgress:
    """Run one UPDATE in batches of `batch_rows`, resuming after the last committed batch."""
    parts = split_update(statement, file_name)
    keys = conn.execute(PRIMARY_KEY_SQL, (parts.table,)).fetchall()
    if not keys:
        raise ConfigError(
            f"{file_name}: {parts.table} has no primary key to batch on",
            hint="add one first, or drop the batch directive",
        )
    progress = BackfillProgress(statement=index, table=parts.table)
    row = conn.execute(PROGRESS_SQL, (version, index)).fetchone()
    last_key: list[str] | None = None
    if row:
        last_key, progress.batches, progress.rows, finished = row[0], int(row[1]), int(row[2]), bool(row[3])
        progress.resumed_after = progress.batches
        if finished:
            return progress
    first, after = (
        _batch_statement(parts, keys, batch_rows, with_key=False),
        _batch_statement(parts, keys, batch_rows, with_key=True),
    )
    clock = time.monotonic()
    while True:
        found = _one_batch(
            conn, first if last_key is None else after, last_key, version, index,
            lock_timeout, statement_timeout, lock_retries, sleep, file_name,
        )  # fmt: skip
        if found is None:
            break
        rows, last_key = found
        progress.batches += 1
        progress.rows += rows
        progress.batches_this_run += 1
        progress.rows_this_run += rows
        rate = progress.rows_this_run / max(time.monotonic() - clock, 1e-6)
        log(
            f"{file_name}: batch {progress.batches}: {rows} row(s), {progress.rows} in all "
            f"({rate:.0f} rows/s)"
        )
    left = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.SQL(parts.target), sql.SQL(parts.where))
    ).fetchone()
    progress.left_matching = int(left[0]) if left else 0
    return progress


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


def _one_batch(
    conn: psycopg.Connection,
    statement: BatchStatements,
    last_key: list[str] | None,
    version: str,
    index: int,
    lock_timeout: str,
    statement_timeout: str,
    lock_retries: int,
    sleep: Callable[[float], None],
    file_name: str,
) -> tuple[int, list[str]] | None:
    """One batch and its progress row in one transaction; None when no row is left."""
    attempt = 0
    while True:
        attempt += 1
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout)))
                conn.execute(
                    sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(statement_timeout))
                )
                row = conn.execute(statement.upper, last_key or ()).fetchone()
                if row is None:
                    conn.execute(SAVE_PROGRESS_SQL, _progress(version, index, None, 0, 0, finished=True))
                    return None
                key = [str(v) for v in row]
                rows = conn.execute(statement.update, [*(last_key or ()), *key]).rowcount
                conn.execute(SAVE_PROGRESS_SQL, _progress(version, index, key, 1, rows, finished=False))
            return rows, key
        except psycopg.Error as exc:
            if isinstance(exc, RETRYABLE_ERRORS) and attempt <= lock_retries:
                sleep(backoff_seconds(attempt))
                continue
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ApplyFailed(
                f"{file_name}: a backfill batch failed after {attempt} attempt(s): {first}; the batches "
                "before it are committed",
                hint="fix the cause and run migrate again: the backfill resumes after its last batch",
            ) from None


def _progress(
    version: str, index: int, key: list[str] | None, batches: int, rows: int, *, finished: bool
) -> dict:
    return {"version": version, "statement": index, "last_key": key, "batches": batches, "rows": rows,
            "finished": finished}  # fmt: skip
