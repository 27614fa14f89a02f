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
    assert "e.event_time > now() - interval '3 days'" in windowed
    assert "now() - interval" not in full and "WHERE TRUE" in full
    metrics, totals = _suites(window_days=3)["metrics_daily"].batches
    assert "interval '3 days'" in metrics.query and "interval '3 days'" in totals.query
    (check,) = totals.checks
    assert check.name == "metrics_daily totals equal raw events"
    assert check.build().expectation_type == "expect_table_row_count_to_equal"


def test_event_batches_scan_once_and_keep_only_offending_rows() -> None:
    """One query per event table: each joined table and the duplicate GROUP BY appear once, and the
    WHERE keeps a row exactly when some check's own condition holds."""
    listener, attribution = _suites()["event_invariants"].batches
    assert listener.query.count("JOIN public.episodes") == 1
    assert attribution.query.count("JOIN public.campaigns") == 1
    for batch in (listener, attribution):
        assert batch.query.count("GROUP BY d.event_id") == 1
        offending = batch.query.split("AND (", 1)[1]
        assert all(c.offends and c.offends in offending for c in batch.checks), batch.asset
    flags = {c.flag for c in listener.checks if c.flag}
    assert flags == {
        "in_the_future",
        "tenant_is_not_episodes",
        "podcast_is_not_episodes",
        "beyond_episode_length",
    }
    assert all(f" AS {flag}" in listener.query for flag in flags)


def test_building_suites_does_not_import_gx() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from expectations.runner import build_suites; from expectations.spec import RunOptions; "
        "build_suites(RunOptions()); import flows.migrate, flows.schema_health, tasks.verify, cli.main; "
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


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
