"""seed-data: the invariants the data promises, determinism, re-runs, and the 1M-event benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from db.errors import ConfigError
from db.local.cluster import LocalCluster
from db.local.seed import refresh_metrics_daily, seed_data, seed_database
from tests.conftest import create_database, drop_database
from tests.db.test_master_schema import apply_schema

ANCHOR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
SCALE = {"tenants": 3, "events": 20_000, "days": 10, "seed": 5}

# Each query counts the rows that break one promise; all must be 0.
INVARIANTS = {
    "event tenant/podcast is its episode's": """
        SELECT count(*) FROM listener_events le JOIN episodes e ON e.id = le.episode_id
        WHERE le.tenant_id <> e.tenant_id OR le.podcast_id <> e.podcast_id""",
    "event references an existing episode": """
        SELECT count(*) FROM listener_events le
        WHERE NOT EXISTS (SELECT 1 FROM episodes e WHERE e.id = le.episode_id)""",
    "position within the episode": """
        SELECT count(*) FROM listener_events le JOIN episodes e ON e.id = le.episode_id
        WHERE le.position_seconds > e.duration_seconds""",
    "no listening before publication": """
        SELECT count(*) FROM listener_events le JOIN episodes e ON e.id = le.episode_id
        WHERE le.event_time < e.published_at""",
    "nothing after the anchor": """
        SELECT (SELECT count(*) FROM listener_events WHERE event_time >= %(anchor)s)
             + (SELECT count(*) FROM attribution_events WHERE event_time >= %(anchor)s)""",
    "listening inside the window": """
        SELECT count(*) FROM listener_events
        WHERE event_time < %(anchor)s - make_interval(days => %(days)s)""",
    "attribution within campaign dates and tenant": """
        SELECT count(*) FROM attribution_events a JOIN campaigns c ON c.id = a.campaign_id
        WHERE a.event_time < c.starts_on::timestamptz OR a.event_time >= (c.ends_on + 1)::timestamptz
           OR a.tenant_id <> c.tenant_id""",
    "links, codes and placements belong to the campaign": """
        SELECT count(*) FROM attribution_events a
        LEFT JOIN tracking_links l ON l.id = a.tracking_link_id
        LEFT JOIN promo_codes p ON p.id = a.promo_code_id
        WHERE (a.tracking_link_id IS NOT NULL AND l.campaign_id IS DISTINCT FROM a.campaign_id)
           OR (a.promo_code_id IS NOT NULL AND p.campaign_id IS DISTINCT FROM a.campaign_id)
           OR (a.episode_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM campaign_placements cp
                WHERE cp.campaign_id = a.campaign_id AND cp.episode_id = a.episode_id))""",
    "deals only where the feature is on": """
        SELECT count(*) FROM deals d JOIN tenant_settings s ON s.tenant_id = d.tenant_id
        WHERE NOT s.features @> '{"deals": true}'""",
    "child rows share their parent's tenant": """
        SELECT (SELECT count(*) FROM episodes e JOIN podcasts p ON p.id = e.podcast_id
                WHERE e.tenant_id <> p.tenant_id)
             + (SELECT count(*) FROM campaigns c JOIN sponsors s ON s.id = c.sponsor_id
                WHERE c.tenant_id <> s.tenant_id)
             + (SELECT count(*) FROM campaign_placements cp JOIN episodes e ON e.id = cp.episode_id
                WHERE cp.tenant_id <> e.tenant_id)""",
}
DETERMINISTIC_SQL = """
SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (
    SELECT event_id, event_time, tenant_id, episode_id, listener_id, event_type, position_seconds
    FROM listener_events) AS t
"""


@pytest.mark.slow
def test_seed_respects_the_invariants_and_reruns_add_nothing(db_url: str) -> None:
    apply_schema(db_url)
    with psycopg.connect(db_url) as conn:
        rows = seed_data(conn, anchor=ANCHOR, **SCALE)
        assert rows["tenants"] == 3 and rows["episodes"] == 3 * 3 * 20
        assert rows["listener_events"] == 20_000 and rows["attribution_events"] == 1_000
        assert rows["deals"] > 0
        for promise, query in INVARIANTS.items():
            broken = conn.execute(query, {"anchor": ANCHOR, "days": SCALE["days"]}).fetchone()[0]
            assert broken == 0, f"{broken} rows break: {promise}"
        types = {r[0] for r in conn.execute("SELECT DISTINCT event_type FROM listener_events")}
        assert types == {"play", "pause", "resume", "seek", "complete", "skip", "download"}
        again = seed_data(conn, anchor=ANCHOR, **SCALE)
        assert sum(again.values()) == 0, again
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert refresh_metrics_daily(conn) == "SELECT * FROM public.refresh_metrics_daily(NULL)"
        assert conn.execute("SELECT sum(events) FROM metrics_daily").fetchone()[0] == 20_000


@pytest.mark.slow
def test_same_seed_gives_the_same_events_in_another_database_and_in_parallel(
    pg_cluster: LocalCluster, db_url: str
) -> None:
    scale = {"tenants": 1, "events": 2_000, "days": 3, "seed": 9}
    other = create_database(pg_cluster, prefix="seed")
    try:
        fingerprints = []
        apply_schema(db_url)
        with psycopg.connect(db_url) as conn:
            seed_data(conn, anchor=ANCHOR, **scale)
            fingerprints.append(conn.execute(DETERMINISTIC_SQL).fetchone()[0])
        apply_schema(other)  # the parallel path must produce exactly the same events
        seed_database(other, anchor=ANCHOR, workers=2, **scale)
        with psycopg.connect(other) as conn:
            fingerprints.append(conn.execute(DETERMINISTIC_SQL).fetchone()[0])
        assert fingerprints[0] == fingerprints[1]
        with psycopg.connect(other) as conn:
            seed_data(conn, anchor=ANCHOR, **dict(scale, seed=10))
            assert conn.execute("SELECT count(*) FROM listener_events").fetchone()[0] == 4_000
    finally:
        drop_database(pg_cluster, other)


def test_bad_scale_is_a_config_error_before_touching_the_database() -> None:
    with pytest.raises(ConfigError, match="--tenants"):
        seed_data(None, tenants=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--days"):
        seed_data(None, days=0)  # type: ignore[arg-type]


@pytest.mark.slow
def test_parallel_seed_inserts_every_event_once_and_keeps_the_invariants(db_url: str) -> None:
    apply_schema(db_url)
    report = seed_database(db_url, anchor=ANCHOR, workers=2, **SCALE)
    assert report.rows["listener_events"] == SCALE["events"]
    assert "listener_events_parallel" in report.seconds  # the workers did run
    with psycopg.connect(db_url) as conn:
        counts = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM listener_events").fetchone()
        assert counts == (SCALE["events"], SCALE["events"])
        for promise, query in INVARIANTS.items():
            broken = conn.execute(query, {"anchor": ANCHOR, "days": SCALE["days"]}).fetchone()[0]
            assert broken == 0, f"{broken} rows break: {promise}"
    again = seed_database(db_url, anchor=ANCHOR, workers=2, **SCALE)
    assert sum(again.rows.values()) == 0


@pytest.mark.slow
def test_cli_seeds_a_database_and_refuses_production(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    apply_schema(db_url)
    args = ["seed-data", "--database-url", db_url, "--tenants", "1", "--events", "500", "--days", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "listener_events" in out and "refresh_metrics_daily(NULL)" in out
    assert db_url.split("@")[0].split(":")[-1] not in out  # the password is masked
    assert main(["seed-data", "--env", "production"]) == 2
    assert "refusing to write demo data into environment 'production'" in capsys.readouterr().err
