"""The GX context that validates: ephemeral (nothing on disk), one PostgreSQL source, made once per process.

GX writes connection strings into its project file when the context is file-backed; an ephemeral
context keeps the URL (and its password) in memory only. Data Docs are written by a separate,
file-backed context that never sees a datasource (expectations/datadocs.py).

`import great_expectations` costs seconds, so it happens here, on the first run of the suites in a
process, and never when flows, tasks or the CLI are imported.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from db.connection.urls import sqlalchemy_url

DATASOURCE_NAME = "schemaflow_postgres"
DEFAULT_DATA_DOCS_DIR = Path(__file__).resolve().parents[1] / ".local" / "gx-docs"
DATA_DOCS_DIR_ENV = "SCHEMAFLOW_GX_DOCS_DIR"


def default_data_docs_dir() -> Path:
    """Where Data Docs go unless a run says otherwise: $SCHEMAFLOW_GX_DOCS_DIR or .local/gx-docs."""
    configured = os.environ.get(DATA_DOCS_DIR_ENV)
    return Path(configured) if configured else DEFAULT_DATA_DOCS_DIR


def quiet_gx() -> None:
    """Keep GX from phoning home and from logging progress noise; call before importing it."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def import_gx() -> Any:
    """The great_expectations module, imported (once per process) with analytics and progress bars off."""
    quiet_gx()
    import great_expectations as gx

    return gx


def open_context(url: str, *, pooled: bool = True, temp_tables: bool = True) -> tuple[Any, Any]:
    """An ephemeral GX context with the database as a SQL source. Returns (context, datasource).

    `temp_tables`: GX materialises each query batch once into a temporary table and runs every metric
    query against it. Temporary tables live in one session, so the engine then holds exactly one
    connection (StaticPool); closing it (`release`) drops them. `pooled=False` opens a connection per
    query instead (no temporary tables): a single-connection server (PGlite, the TSL test lane) would
    otherwise wait forever on the idle connection GX's engine keeps.
    """
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from sqlalchemy.pool import NullPool, StaticPool

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    for name in list(context.list_data_docs_sites()):
        context.delete_data_docs_site(name)  # its default site would write to a temp dir per context
    temp_tables = temp_tables and pooled
    options: dict[str, Any] = {
        "connection_string": sqlalchemy_url(url),
        "create_temp_table": temp_tables,
        # create_engine() keyword arguments
        "kwargs": {"poolclass": StaticPool if temp_tables else NullPool} if temp_tables or not pooled else {},
    }
    datasource = context.data_sources.add_postgres(DATASOURCE_NAME, **options)
    return context, datasource


def release(datasource: Any) -> None:
    """Close the source's connections: its temporary tables go with them; the next run reconnects."""
    datasource.get_engine().dispose()
