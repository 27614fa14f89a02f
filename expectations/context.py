"""The GX context for one verification run: ephemeral (nothing on disk but Data Docs), one PostgreSQL source.

GX writes connection strings into its project file when the context is file-backed; an ephemeral
context keeps the URL (and its password) in memory only. Data Docs go to a folder we choose.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from db.connection.urls import sqlalchemy_url

DATASOURCE_NAME = "schemaflow_postgres"
DATA_DOCS_SITE = "schemaflow_docs"
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


def open_context(url: str, data_docs_dir: Path, *, pooled: bool = True) -> tuple[Any, Any]:
    """An ephemeral GX context with a filesystem Data Docs site and the database as a SQL source.

    Returns (context, datasource). `import great_expectations` costs seconds, so it happens here.
    `pooled=False` opens a connection per query: GX's engines each keep an idle pooled connection,
    which a single-connection server (PGlite, the TSL test lane) waits on forever.
    """
    quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    # The ephemeral context's default site writes to a fresh temp dir; one known folder is enough.
    for name in list(context.list_data_docs_sites()):
        context.delete_data_docs_site(name)
    data_docs_dir.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site(
        DATA_DOCS_SITE,
        {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs_dir.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    options: dict[str, Any] = {"connection_string": sqlalchemy_url(url)}
    if not pooled:
        from sqlalchemy.pool import NullPool

        options["kwargs"] = {"poolclass": NullPool}  # create_engine() keyword arguments
    datasource = context.data_sources.add_postgres(DATASOURCE_NAME, **options)
    return context, datasource
