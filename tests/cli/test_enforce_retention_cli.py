"""`schemaflow enforce-retention --dry-run` and `schemaflow plan` on events spread over 20 months."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from cli.main import main
from tests.support.environments import use_test_environments
from tests.support.retention import CHUNKS_SQL, spread, with_window


def test_the_dry_run_names_the_chunks_and_plan_shows_a_shrink_as_destroys_data(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    spread(db_url)
    use_test_environments(tmp_path, db_url, monkeypatch)
    monkeypatch.setenv("COLUMNS", "200")
    with psycopg.connect(db_url) as conn:
        before = conn.execute(CHUNKS_SQL).fetchall()
        old = [
            name
            for name, end in before
            if end <= conn.execute("SELECT now() - INTERVAL '13 months'").fetchone()[0]
        ]  # type: ignore[index]
    assert main(["enforce-retention", "--env", "dev", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"public.listener_events (keep 1 year 1 mon): would remove {len(old)} whole chunk(s)" in out
    assert all(name in out for name in old) and "dry run: nothing was changed" in out
    with psycopg.connect(db_url) as conn:
        assert conn.execute(CHUNKS_SQL).fetchall() == before
    assert db_url.split("@")[0].rsplit(":", 1)[1] not in out  # the password stays out

    shrunk = tmp_path / "shrunk.sql"
    shrunk.write_text(with_window("INTERVAL '6 months'"))
    assert main(["plan", "--env", "dev", "--schema-file", str(shrunk)]) == 1
    out = capsys.readouterr().out
    assert "destroys_data" in out and "retention of public.listener_events shrinks to 6 mons" in out
    assert "chunk(s)" in out and "row(s)" in out
