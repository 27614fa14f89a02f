"""The TSL lane (PGlite WASM with TimescaleDB's TSL license) can create a continuous aggregate."""

from __future__ import annotations

import psycopg


def test_tsl_lane_creates_a_continuous_aggregate(tsl_url: str) -> None:
    with psycopg.connect(tsl_url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        assert conn.execute("SHOW timescaledb.license").fetchone()[0] == "timescale"
        conn.execute("CREATE TABLE ev (time timestamptz NOT NULL, v int)")
        conn.execute("SELECT create_hypertable('ev', 'time')")
        conn.execute("INSERT INTO ev SELECT now() - i * interval '1 hour', i FROM generate_series(1, 48) i")
        conn.execute(
            "CREATE MATERIALIZED VIEW ev_daily WITH (timescaledb.continuous) AS "
            "SELECT time_bucket('1 day', time) AS day, sum(v) AS total FROM ev GROUP BY 1 WITH NO DATA"
        )
        conn.execute("CALL refresh_continuous_aggregate('ev_daily', NULL, NULL)")
        total = conn.execute("SELECT sum(total) FROM ev_daily").fetchone()[0]
        assert total == sum(range(1, 49))
        caggs = conn.execute("SELECT view_name FROM timescaledb_information.continuous_aggregates").fetchall()
        assert caggs == [("ev_daily",)]
