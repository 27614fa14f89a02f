"""Suite construction without a database: what each mode and option puts into the suites."""

from __future__ import annotations

from expectations.runner import build_suites
from expectations.spec import RunOptions, sql_values


def _suites(**options: object) -> dict:
    return {s.name: s for s in build_suites(RunOptions(**options))}  # type: ignore[arg-type]


def test_plain_mode_marks_hypertables_not_applicable_and_keeps_the_rest() -> None:
    suites = _suites(mode="plain")
    assert suites["hypertables"].not_applicable and "plain mode" in suites["hypertables"].not_applicable
    assert all(
        not suites[name].not_applicable for name in ("table_shape", "event_invariants", "metrics_daily")
    )


def test_tsl_mode_adds_the_refresh_policy_check() -> None:
    apache = [c.name for b in _suites(mode="apache")["hypertables"].batches for c in b.checks]
    tsl = [c.name for b in _suites(mode="tsl")["hypertables"].batches for c in b.checks]
    assert "metrics_daily refresh policy" in tsl and "metrics_daily refresh policy" not in apache
    assert {"listener_events hypertable", "attribution_events hypertable"} <= set(apache)


def test_window_filters_the_event_assets_and_full_drops_the_filter() -> None:
    windowed = _suites(window_days=3)["event_invariants"].batches[0].query
    full = _suites(full=True)["event_invariants"].batches[0].query
    assert "event_time > now() - interval '3 days'" in windowed
    assert "interval" not in full and full.endswith("WHERE TRUE")
    metrics = _suites(window_days=3)["metrics_daily"].batches[0]
    assert "interval '3 days'" in metrics.query
    totals = next(c for c in metrics.checks if c.name == "metrics_daily totals equal raw events")
    assert totals.build().unexpected_rows_query.rstrip().endswith("LIMIT 1000")


def test_event_rules_come_from_the_master_file() -> None:
    listener = _suites()["event_invariants"].batches[0]
    names = {c.name for c in listener.checks}
    assert {"listener_events.event_id not null", "listener_events.listener_id not null"} <= names
    assert "listener_events.session_id not null" not in names  # nullable in the file
    in_set = next(c for c in listener.checks if c.name == "listener_events.event_type in known set")
    assert set(in_set.build().value_set) == {
        "play",
        "pause",
        "resume",
        "seek",
        "complete",
        "skip",
        "download",
    }


def test_sql_values_quotes_literals() -> None:
    assert sql_values([("a", "b"), ("it's",)]) == "('a', 'b'), ('it''s')"
