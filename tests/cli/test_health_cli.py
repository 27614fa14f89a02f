"""`schemaflow health`: exit 0 on a healthy database, 1 with an actionable message per structural problem."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import psycopg
import pytest

from cli.main import main
from db.local.cluster import LocalCluster
from tests.conftest import drop_database
from tests.support.seeded import clone_template

# Structural problems made at once in one database, and what the output must say about each:
# the problem, then the fix.
BREAKAGES = [
    "DROP TABLE public.data_exports",
    "ALTER TABLE public.podcasts DROP COLUMN image_url",
    "DROP INDEX public.idx_campaigns_dates",
    "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.idx_sponsors_tenant_id'::regclass",
    "ALTER TABLE public.deals DROP CONSTRAINT deals_owner_user_id_fkey",
    "ALTER TABLE public.deals ADD CONSTRAINT deals_owner_user_id_fkey FOREIGN KEY (owner_user_id) "
    "REFERENCES public.users (id) NOT VALID",
    "ALTER TABLE public.attribution_events RENAME TO attribution_events_old",
    "CREATE TABLE public.attribution_events (LIKE public.attribution_events_old INCLUDING ALL)",
    "ALTER TABLE public.attribution_events ENABLE ROW LEVEL SECURITY",
]
MESSAGES = [
    ("missing: data_exports", "schemaflow migrate"),
    ("missing podcasts.image_url", "schemaflow migrate"),
    ("missing: idx_campaigns_dates", "schemaflow migrate"),
    (
        "INVALID (a failed build): idx_sponsors_tenant_id",
        "REINDEX INDEX CONCURRENTLY public.idx_sponsors_tenant_id",
    ),
    ("NOT VALID: deals.deals_owner_user_id_fkey", "VALIDATE CONSTRAINT deals_owner_user_id_fkey"),
    ("attribution_events is not a hypertable", "migrate_data"),
]


@pytest.fixture
def clean_url(pg_cluster: LocalCluster):  # type: ignore[no-untyped-def]
    url = clone_template(pg_cluster)
    yield url
    drop_database(pg_cluster, url)


def test_healthy_database_exits_0_with_json_and_expectations(clean_url: str, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["health", "--database-url", clean_url, "--json", "--data-docs-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    payload = json.loads(out)
    assert payload["healthy"] is True
    assert {c["status"] for c in payload["checks"]} == {"pass"}
    assert payload["expectations"]["success"] is True
    assert payload["expectations"]["data_docs_index"] == str(tmp_path / "index.html")
    password = urlsplit(clean_url).password
    assert password and password not in out
    print(
        f"\nhealth checks via the CLI: {payload['health_seconds']} s; "
        f"GX suites: {payload['expectations']['seconds']} s"
    )


def test_each_structural_problem_is_reported_with_its_fix(clean_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(clean_url, autocommit=True) as conn:
        for statement in BREAKAGES:
            conn.execute(statement)
    code = main(["health", "--database-url", clean_url, "--no-gx"])
    printed = capsys.readouterr().out
    assert max(len(line) for line in printed.splitlines()) <= 80  # piped: the table fits 80 columns
    # The text with no white space at all: a table may fold a long name at any character.
    out = "".join(printed.split())
    assert code == 1
    assert "Whattodo:" in out
    for problem, fix in MESSAGES:
        assert "".join(problem.split()) in out, problem
        section = out[out.index("Whattodo:") :]
        assert "".join(fix.split()) in section, fix
    assert urlsplit(clean_url).password not in out


def test_stale_aggregate_exits_1(clean_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(clean_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TEMP TABLE recent AS SELECT * FROM public.listener_events "
            "WHERE event_time >= date_trunc('day', now(), 'UTC') - interval '2 days'"
        )
        conn.execute("DELETE FROM public.listener_events WHERE event_id IN (SELECT event_id FROM recent)")
        conn.execute("SELECT * FROM public.refresh_metrics_daily(NULL)")
        conn.execute("INSERT INTO public.listener_events SELECT * FROM recent")
    assert main(["health", "--database-url", clean_url, "--no-gx"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "FAIL metrics_daily freshness" in out
    assert "schemaflow refresh-metrics --env ENV" in out


def test_without_a_target_it_is_a_usage_error(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["health"]) == 2
    err = capsys.readouterr().err
    assert "health needs a database" in err and "--env ENV or --database-url URL" in err


def test_window_days_must_be_positive(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["health", "--database-url", "postgresql://u@localhost/db", "--window-days", "0"]) == 2
    assert "--window-days must be at least 1" in capsys.readouterr().err


def test_a_failed_expectation_names_the_column_in_the_terminal(clean_url: str, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(clean_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.listener_events ADD COLUMN extra_col text")
    code = main(["health", "--database-url", clean_url, "--data-docs-dir", str(tmp_path)])
    text = " ".join(capsys.readouterr().out.split())  # however the table folds the cell
    assert code == 1, text
    # The cell folds at 80 columns: its two lines interleave with the expectation's name.
    assert "1 unexpected row:" in text and "listener_events.extra_col (not in the master file)" in text
    assert "observed 1" not in text and ", 1 unexpected" not in text
