"""The TimescaleDB part of a catalog snapshot: hypertables, dimensions, continuous aggregates, jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from db.catalog import queries as q

PARENT = "parent"
# Ids TimescaleDB assigns in creation order; they differ between databases built from the same file.
_JOB_CONFIG_IDS = ("mat_hypertable_id", "hypertable_id")
Snapshot = dict[str, dict[str, dict[str, Any]]]
Rows = Callable[[str], list[dict[str, Any]]]


def add_timescaledb(snap: Snapshot, rows: Rows, catalog_readable: bool = True) -> None:
    """Hypertables, dimensions, continuous aggregates and their jobs (TimescaleDB installed only)."""
    for r in rows(q.HYPERTABLES_SQL):
        name = f"{r['schema']}.{r['name']}"
        snap["hypertable"][name] = {
            PARENT: f"table:{name}",
            "num_dimensions": r["num_dimensions"],
            "compression_enabled": r["compression_enabled"],
            "chunk_grants": [],
        }
    for r in rows(q.CHUNK_GRANTS_SQL):
        name = f"{r['schema']}.{r['name']}"
        if name in snap["hypertable"]:
            snap["hypertable"][name]["chunk_grants"] = sorted(r["grants"])
    for r in rows(q.DIMENSIONS_SQL):
        table = f"{r['schema']}.{r['relation']}"
        snap["dimension"][f"{table}.{r['name']}"] = {
            PARENT: f"hypertable:{table}",
            "dimension_number": r["dimension_number"],
            "dimension_type": r["dimension_type"],
            "column_type": r["column_type"],
            "time_interval": r["time_interval"],
            "integer_interval": r["integer_interval"],
            "num_partitions": r["num_partitions"],
            "integer_now_func": r["integer_now_func"],
        }
    materialized: dict[str, str] = {}
    for r in rows(q.CAGGS_SQL if catalog_readable else q.CAGGS_INFORMATION_SQL):
        name = f"{r['schema']}.{r['name']}"
        # Jobs name the materialization hypertable (older releases) or the view itself (2.2x).
        materialized[f"{r['mat_schema']}.{r['mat_name']}"] = name
        materialized[name] = name
        # A continuous aggregate's user view is reported here, with its real query, not as a view.
        snap["view"].pop(name, None)
        snap["grant"].setdefault(f"cagg {name}", snap["grant"].pop(f"view {name}", {}))
        snap["grant"][f"cagg {name}"][PARENT] = f"cagg:{name}"
        if f"view {name}" in snap["comment"]:
            snap["comment"][f"cagg {name}"] = dict(snap["comment"].pop(f"view {name}"), parent=f"cagg:{name}")
        snap["cagg"][name] = {
            PARENT: f"schema:{r['schema']}",
            "materialized_only": r["materialized_only"],
            "compression_enabled": r["compression_enabled"],
            "definition": r["definition"],
        }
    for r in rows(q.CAGG_INDEXES_SQL):
        # `_materialized_hypertable_<id>` differs between databases: name it after the aggregate.
        cagg, internal = f"{r['schema']}.{r['cagg']}", f"{r['mat_schema']}.{r['mat_name']}"
        index = r["name"].replace(r["mat_name"], r["cagg"])
        definition = r["definition"].replace(internal, cagg).replace(r["mat_name"], r["cagg"])
        snap["index"][f"{r['schema']}.{index}"] = {
            PARENT: f"cagg:{cagg}",
            "table": cagg,
            "definition": definition,
            "valid": r["valid"],
        }
    for r in rows(q.JOBS_SQL):
        target = f"{r['hypertable_schema']}.{r['hypertable_name']}"
        if target in materialized:
            parent = f"cagg:{materialized[target]}"
        elif target in snap["hypertable"]:
            parent = f"hypertable:{target}"
        else:
            continue
        config = json.loads(r["config"]) if r["config"] else {}
        config = {k: v for k, v in config.items() if k not in _JOB_CONFIG_IDS}
        snap["job"][f"{parent.split(':', 1)[1]}.{r['proc_name']}"] = {
            PARENT: parent,
            "proc": f"{r['proc_schema']}.{r['proc_name']}",
            "schedule_interval": r["schedule_interval"],
            "scheduled": r["scheduled"],
            "config": config,
        }
