"""Screenshots of the Data Docs as `make ui` serves them: the index and one validation page.

Run by hand: `.venv/bin/python scripts/datadocs/screenshots.py` (needs Chromium: scripts/setup-browser.sh).
Starts a throwaway PostgreSQL + TimescaleDB cluster with a small seeded database, runs the suites
twice into a site for `staging` (the second run after an event from the future arrives, so the
index shows a failed run beside a passing one), serves the folder with `python -m http.server` on
127.0.0.1 as scripts/ui.sh does, and saves docs/datadocs-index.png and docs/datadocs-validation.png.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402  (after the sys.path line)

from db.local.cluster import LocalCluster, free_port  # noqa: E402  (after the sys.path line)
from db.local.seed import refresh_metrics_daily, seed_data  # noqa: E402  (after the sys.path line)
from db.schema.master_file import read_schema  # noqa: E402  (after the sys.path line)
from expectations.runner import run_suites  # noqa: E402  (after the sys.path line)
from tests.e2e.browser import capture  # noqa: E402  (after the sys.path line)

COLUMNS = "tenant_id, podcast_id, episode_id, listener_id, event_type, position_seconds, duration_seconds"
FUTURE_EVENT = (
    f"INSERT INTO public.listener_events (event_id, event_time, {COLUMNS}) "
    f"SELECT gen_random_uuid(), now() + interval '1 day', {COLUMNS} FROM public.listener_events LIMIT 1"
)


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="schemaflow-datadocs-shots-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    server = None
    try:
        cluster.ensure_database()
        url = cluster.url()
        with psycopg.connect(url) as conn:
            conn.execute("SET client_min_messages = warning")
            conn.execute(read_schema())
        with psycopg.connect(url) as conn:
            seed_data(conn, tenants=2, events=10_000, days=10, seed=1)
        with psycopg.connect(url, autocommit=True) as conn:
            refresh_metrics_daily(conn)
        docs = base / "gx-docs"
        first = run_suites(url, data_docs_dir=docs / "staging", run_name="migrate-staging-brave-otter")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FUTURE_EVENT)
        second = run_suites(url, data_docs_dir=docs / "staging", run_name="migrate-staging-calm-heron")
        failed = [r["expectation"] for r in second.failed_rows()]
        print(f"runs: {first.success=} {second.success=}, failed: {failed}")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(docs)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        site = f"http://127.0.0.1:{port}/staging/"
        for _ in range(50):
            try:
                urllib.request.urlopen(site + "index.html", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        # The failed run's listener_events page: the future event's expectation fails there.
        page = next(
            (docs / "staging" / "validations" / "event_invariants" / "listener_events").rglob(
                "migrate-staging-calm-heron/*/*.html"
            )
        )
        for name, target in (
            ("datadocs-index", site + "index.html"),
            ("datadocs-validation", site + page.relative_to(docs / "staging").as_posix()),
        ):
            shot = capture(target, name)
            (ROOT / "docs").mkdir(exist_ok=True)
            shutil.copy2(shot.screenshot, ROOT / "docs" / f"{name}.png")
            print(f"{target} -> docs/{name}.png")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
