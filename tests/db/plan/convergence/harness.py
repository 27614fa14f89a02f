"""The convergence suite's machinery: read a schema pair, build its state A, run drift, compare rows.

A pair is a folder under pairs/: `a.sql` builds the live database (with a few INSERTs), `b.sql` is the
desired file (idempotent, in the master file's style) handed to drift as `--schema-file`, and
`expected.json` says what drift must report:

    {"about": "...",
     "differences": [{"kind": "column", "status": "changed", "name": "public.t.c",
                      "severity": "high",            # optional: asserted when given
                      "renamed": true,               # optional: the plan must RENAME, not drop + create
                      "destroys_data": true}],       # optional: the plan must leave this one out
     "renames": {"public.old": "public.new", "public.t.old_col": "public.t.new_col"},
     "min_server_major": 18,                          # optional: skipped (and said so) on older servers
     "known_gaps": {"18": "why"}}                     # optional: a strict xfail on that major

psql builds A and runs the suggested script, the way a person does. Drift runs either through the
installed `schemaflow` command (`run_drift`, `drift_report`, `plan_report`: a process each, paying the
CLI's start-up and its own scratch database) or in this process (`drift_in_process`, with the
`--sql` script from the CLI's own `render_script`), which the suite uses for most pairs to stay fast.
The password travels in PGPASSWORD, never on a command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from cli.drift import render_script
from cli.exit_codes import ExitCode
from db.catalog.drift import DriftReport, check_drift
from db.connection.urls import libpq_subprocess_args, with_database

PAIRS_DIR = Path(__file__).with_name("pairs")
REPO = Path(__file__).resolve().parents[4]
SCHEMAFLOW = REPO / ".venv" / "bin" / "schemaflow"
COMMAND_TIMEOUT = 120  # seconds; a drift that hangs on a lock must fail the test, not the suite
# Schemas whose tables are not the pair's own: TimescaleDB's chunks and catalogs, schemaflow's history.
_OWN_TABLES_SQL = """
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS relkind,
       EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid) AS has_children,
       EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
               JOIN pg_namespace kn ON kn.oid = k.relnamespace
               WHERE i.inhparent = c.oid AND kn.nspname LIKE '\\_timescaledb%%') AS chunked,
       array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attgenerated = '') AS columns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'schemaflow', 'timescaledb_information',
                        'timescaledb_experimental', 'toolkit_experimental')
  AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname NOT LIKE '\\_timescaledb%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 2
"""
_PAIR_ROLES_SQL = "SELECT rolname FROM pg_roles WHERE rolname LIKE %(prefix)s ORDER BY 1"
_ROLE_FACTS_SQL = """
SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       r.rolreplication, r.rolbypassrls, r.rolconnlimit,
       ARRAY(SELECT g.rolname || ' admin=' || m.admin_option FROM pg_auth_members m
             JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of
FROM pg_roles r WHERE r.rolname LIKE %(prefix)s ORDER BY 1
"""


@dataclass(frozen=True)
class Pair:
    """One schema pair: where it lives and what drift must say about it."""

    folder: Path
    about: str
    differences: frozenset[tuple[str, str, str]]
    severities: dict[tuple[str, str, str], str] = field(default_factory=dict)
    renamed: frozenset[tuple[str, str, str]] = frozenset()
    destroys_data: frozenset[tuple[str, str, str]] = frozenset()
    renames: dict[str, str] = field(default_factory=dict)
    min_server_major: int = 0  # a pair of a newer server's catalog feature: skipped below this
    known_gaps: dict[str, str] = field(default_factory=dict)  # major -> why it does not converge there

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def a_sql(self) -> Path:
        return self.folder / "a.sql"

    @property
    def b_sql(self) -> Path:
        return self.folder / "b.sql"

    @property
    def timescaledb(self) -> bool:
        """The pair needs TimescaleDB, which the PostgreSQL 16-18 lanes (plain mode) do not have."""
        return any(
            "timescaledb" in f.read_text().lower() or "hypertable" in f.read_text().lower()
            for f in (self.a_sql, self.b_sql)
        )

    def unsupported_reason(self, url: str) -> str | None:
        """Why the server at `url` cannot run this pair (too old for its feature), or None."""
        if not self.min_server_major:
            return None
        major = server_major(url)
        if major < self.min_server_major:
            return f"{self.id} needs PostgreSQL {self.min_server_major}+ (this server is {major})"
        return None

    @property
    def role_prefix(self) -> str:
        """Roles are cluster-wide: each pair names its own `p<NN>_...` so pairs cannot collide."""
        return f"p{self.id.split('_', 1)[0]}_"


def server_major(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000  # type: ignore[index]


def load_pairs() -> list[Pair]:
    return [load_pair(folder) for folder in sorted(PAIRS_DIR.iterdir()) if folder.is_dir()]


def load_pair(folder: Path) -> Pair:
    spec = json.loads((folder / "expected.json").read_text())
    entries = spec["differences"]

    def key(entry: dict[str, Any]) -> tuple[str, str, str]:
        assert entry["status"] in ("missing", "unexpected", "changed"), f"{folder.name}: {entry}"
        return (entry["kind"], entry["status"], entry["name"])

    return Pair(
        folder=folder,
        about=spec.get("about", ""),
        differences=frozenset(key(e) for e in entries),
        severities={key(e): e["severity"] for e in entries if "severity" in e},
        renamed=frozenset(key(e) for e in entries if e.get("renamed")),
        destroys_data=frozenset(key(e) for e in entries if e.get("destroys_data")),
        renames=dict(spec.get("renames", {})),
        min_server_major=int(spec.get("min_server_major", 0)),
        known_gaps=dict(spec.get("known_gaps", {})),
    )


def _env_and_url(url: str) -> tuple[dict[str, str], str]:
    """A child's environment with PGPASSWORD, and the URL without its password."""
    _, extra = libpq_subprocess_args(url)
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    env = {**os.environ, **extra, "PGOPTIONS": "-c client_min_messages=warning"}
    return env, parts._replace(netloc=netloc).geturl()


def run_psql(url: str, script: Path) -> subprocess.CompletedProcess[str]:
    """`psql -v ON_ERROR_STOP=1 -f script` the way a person runs a suggested script."""
    conninfo, _ = libpq_subprocess_args(url)
    env, _ = _env_and_url(url)
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def run_drift(url: str, schema_file: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """The installed `schemaflow drift` command against `url`, comparing with `schema_file`."""
    env, bare_url = _env_and_url(url)
    return subprocess.run(
        [str(SCHEMAFLOW), "drift", "--database-url", bare_url, "--schema-file", str(schema_file), *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        cwd=REPO,
    )


def plan_report(url: str, schema_file: Path, *flags: str) -> dict[str, Any]:
    """The `schemaflow plan --json` output (exit 0 empty, 1 with steps); anything else fails."""
    env, bare_url = _env_and_url(url)
    done = subprocess.run(
        [
            str(SCHEMAFLOW),
            "plan",
            "--database-url",
            bare_url,
            "--schema-file",
            str(schema_file),
            "--json",
            *flags,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        cwd=REPO,
    )
    try:
        assert done.returncode in (0, 1)
        return dict(json.loads(done.stdout))
    except (AssertionError, json.JSONDecodeError):
        raise AssertionError(
            f"plan --json exited {done.returncode} without a plan:\n"
            f"{done.stderr[-3000:]}\n{done.stdout[:2000]}"
        ) from None


def drift_report(url: str, schema_file: Path) -> tuple[int, dict[str, Any]]:
    """(exit code, the --json report); a crash or an unreadable report fails with drift's own output."""
    done = run_drift(url, schema_file, "--json")
    if done.returncode not in (0, 1):
        raise AssertionError(f"drift --json exited {done.returncode}:\n{done.stderr}\n{done.stdout}")
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"drift --json exited {done.returncode} without a JSON report ({exc}):\n"
            f"{done.stderr[-3000:]}\n{done.stdout[:2000]}"
        ) from None


def drift_in_process(url: str, schema_file: Path) -> tuple[int, DriftReport]:
    """(the exit code `schemaflow drift` would give, the report) from the function the CLI calls."""
    report = check_drift(url, schema_sql=schema_file.read_text(encoding="utf-8"))
    return (ExitCode.FAILED if report.has_drift else ExitCode.OK), report


def suggested_script(report: DriftReport) -> str:
    """What `schemaflow drift --sql` prints for `report` (the CLI's own renderer, not a copy)."""
    return render_script(report)


def reported(report: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(d["kind"], d["status"], d["name"]): d for d in report.get("differences", [])}


def describe(diffs: dict[tuple[str, str, str], dict[str, Any]], keys: Iterable[tuple[str, str, str]]) -> str:
    lines = []
    for k in sorted(keys):
        d = diffs.get(k, {})
        lines.append(f"  {k[1]} {k[0]} {k[2]}: {d.get('detail', '')}"[:300])
    return "\n".join(lines) or "  (none)"


def table_rows(url: str) -> dict[str, dict[str, Any]]:
    """Every user table's column names and rows as text, read with and without its children.

    Values are cast to text so a widened type (integer to bigint) still compares equal; `ONLY` keeps
    an inheritance child's rows out of its parent's, while partitioned tables and hypertables are read
    whole (their rows live in partitions or chunks).
    """
    out: dict[str, dict[str, Any]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for schema, name, relkind, has_children, chunked, columns in conn.execute(_OWN_TABLES_SQL).fetchall():
            columns = list(columns or [])
            table = sql.Identifier(schema, name)
            select = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
            only = conn.execute(sql.SQL("SELECT {} FROM ONLY {}").format(select, table)).fetchall()
            whole = (
                conn.execute(sql.SQL("SELECT {} FROM {}").format(select, table)).fetchall()
                if relkind == "p" or has_children
                else only
            )
            out[f"{schema}.{name}"] = {
                "columns": columns,
                "only": only,
                "whole": whole,
                "relkind": relkind,
                "chunked": chunked,
            }
    return out


def _projection(info: dict[str, Any], rows_key: str, columns: list[str]) -> list[tuple]:
    index = [info["columns"].index(c) for c in columns]
    return sorted(tuple(row[i] for i in index) for row in info[rows_key])


def checksum(rows: list[tuple]) -> str:
    return hashlib.md5(repr(rows).encode()).hexdigest()


def compare_rows(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], renames: dict[str, str]
) -> tuple[list[str], int]:
    """Tables on both sides whose rows changed (over the columns both have), and how many rows compared.

    A partitioned table is compared through its partitions (so attaching a table with rows is not a
    change of the parent's rows); a hypertable, or a table partitioned on one side only, is read whole
    on both; any other table alone (ONLY), so a parent that gains an inheritance child does not seem
    to gain the child's rows.
    """
    problems: list[str] = []
    compared = 0
    for old_table, old in before.items():
        new_table = renames.get(old_table, old_table)
        new = after.get(new_table)
        if new is None:
            continue
        new_names = {
            c: renames.get(f"{old_table}.{c}", f"{new_table}.{c}").rsplit(".", 1)[1] for c in old["columns"]
        }
        common = [c for c in old["columns"] if new_names[c] in new["columns"]]
        if not common:
            continue
        if old["relkind"] == new["relkind"] == "p":
            continue  # its rows live in its partitions, each compared on its own
        whole = "p" in (old["relkind"], new["relkind"]) or old["chunked"] or new["chunked"]
        rows_key = "whole" if whole else "only"
        a = _projection(old, rows_key, common)
        b = _projection(new, rows_key, [new_names[c] for c in common])
        compared += len(a)
        if checksum(a) != checksum(b):
            problems.append(
                f"{old_table} -> {new_table}: {len(a)} rows before, {len(b)} after; "
                f"checksum {checksum(a)} != {checksum(b)} over columns {common}"
            )
    return problems, compared


def _like_prefix(prefix: str) -> str:
    return prefix.replace("_", "\\_") + "%"  # "_" is LIKE's any-character: p01_ must not match p01x


def role_facts(url: str, prefix: str) -> list[tuple]:
    """The attributes and memberships of this pair's roles (cluster-wide: drift must not change them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(_ROLE_FACTS_SQL, {"prefix": _like_prefix(prefix)}).fetchall()


def drop_pair_roles(url: str, prefix: str) -> None:
    """Remove the pair's roles and what they hold in `url` (the other databases are dropped already)."""
    with psycopg.connect(url, autocommit=True) as conn:
        roles = [r for (r,) in conn.execute(_PAIR_ROLES_SQL, {"prefix": _like_prefix(prefix)}).fetchall()]
        for role in roles:
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
        for role in roles:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def script_drops(script: str, kind: str, name: str) -> bool:
    """True when a statement of `script` (comments aside) drops the table or column `name`."""
    statements = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    last = re.escape(name.rsplit(".", 1)[-1])
    word = {"table": "TABLE", "column": "COLUMN"}.get(kind, kind.upper())
    pattern = rf"DROP\s+{word}\s+(IF\s+EXISTS\s+)?(\"?\w+\"?\.)*\"?{last}\"?(\s|;|,|$)"
    return re.search(pattern, statements, re.I | re.M) is not None


# pg_dump's lines that say nothing about the schema: comments, blank lines, psql's \restrict guard.
_DUMP_NOISE = re.compile(r"^(--.*|\s*|\\(un)?restrict .*)$")


def schema_dump(url: str) -> str:
    """`pg_dump --schema-only` (privileges included) without TimescaleDB's chunks, which hold data."""
    conninfo, _ = libpq_subprocess_args(url)
    env, _ = _env_and_url(url)
    done = subprocess.run(
        ["pg_dump", "--schema-only", "--exclude-schema=_timescaledb_internal", "-d", conninfo],
        env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=True,
    )  # fmt: skip
    return "\n".join(line for line in done.stdout.splitlines() if not _DUMP_NOISE.match(line))


@contextmanager
def built_from(url: str, schema_file: Path) -> Iterator[str]:
    """A database beside `url` built straight from `schema_file` with psql (dropped afterwards)."""
    name = f"built_{uuid.uuid4().hex[:12]}"
    admin = with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        built = with_database(url, name)
        done = run_psql(built, schema_file)
        assert done.returncode == 0, f"the desired file does not build a database:\n{done.stderr}"
        yield built
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
