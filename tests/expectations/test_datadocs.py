"""Data Docs a person can open: one site per environment, runs named and kept, no CDN, no credential."""

from __future__ import annotations

import functools
import http.server
import re
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from expectations.datadocs import NODE_MODULES, localise_assets
from expectations.runner import run_suites

EXTERNAL_URL = re.compile(r"https?://", re.IGNORECASE)


def _pages(site: Path) -> list[Path]:
    return [p for p in site.rglob("*.html") if "static" not in p.relative_to(site).parts]


def _require_assets() -> None:
    if not NODE_MODULES.is_dir():
        pytest.skip("Data Docs assets are not installed: run bash scripts/setup-datadocs.sh (needs npm)")


def test_two_runs_are_both_listed_and_pages_load_nothing_from_the_internet(
    seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_assets()
    monkeypatch.setenv("SCHEMAFLOW_GX_DOCS_DIR", str(tmp_path))
    for run_name in ("migrate-staging-first", "migrate-staging-second"):
        report = run_suites(seeded_url, environment="staging", run_name=run_name)
        assert report.success, report.failed_rows()
    site = tmp_path / "staging"
    assert report.data_docs_index == site / "index.html"
    index = (site / "index.html").read_text()
    assert "migrate-staging-first" in index and "migrate-staging-second" in index
    assert "__none__" not in index
    run_dirs = {p.name for p in (site / "validations").rglob("migrate-staging-*") if p.is_dir()}
    assert run_dirs == {"migrate-staging-first", "migrate-staging-second"}
    pages = _pages(site)
    assert len(pages) > 10
    # A passing null check validated an offenders batch of no rows: GX's own renderer said "NaN% not null".
    validations = "\n".join(p.read_text() for p in pages if "validations" in p.parts)
    assert "NaN%" not in validations and "no null values" in validations
    for page in pages:
        found = EXTERNAL_URL.findall(page.read_text())
        assert not found, f"{page.relative_to(site)} references an external URL"
        assert "integrity=" not in page.read_text()
    # Every local stylesheet and script a page names exists in the site.
    for ref in re.findall(r'(?:src|href)="([^"#?]+\.(?:css|js))"', index):
        assert (site / ref).is_file(), ref
    assert (site / "static/vendor/@fortawesome/fontawesome-free/webfonts").is_dir()
    # The docs' own GX project stores results and suites, never the connection.
    password = urlsplit(seeded_url).password
    assert password
    for path in site.rglob("*"):
        if path.is_file() and "vendor" not in path.parts:
            text = path.read_text(errors="ignore")
            assert password not in text and "postgresql+psycopg" not in text, path


def test_each_environment_has_its_own_site_and_old_runs_are_pruned(
    seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEMAFLOW_GX_DOCS_DIR", str(tmp_path))
    monkeypatch.setenv("SCHEMAFLOW_GX_DOCS_KEEP_RUNS", "2")
    for run_name in ("one", "two", "three"):
        run_suites(seeded_url, environment="local", run_name=f"local-{run_name}", suites=["table_shape"])
    run_suites(seeded_url, environment="production", run_name="production-one", suites=["table_shape"])
    local = (tmp_path / "local" / "index.html").read_text()
    assert "local-two" in local and "local-three" in local
    assert "local-one" not in local, "runs beyond SCHEMAFLOW_GX_DOCS_KEEP_RUNS are pruned"
    assert not list((tmp_path / "local" / "validations").rglob("local-one"))
    production = (tmp_path / "production" / "index.html").read_text()
    assert "production-one" in production and "local-" not in production


def test_rewrite_points_every_cdn_link_at_the_local_copy(tmp_path: Path) -> None:
    _require_assets()
    page = tmp_path / "validations" / "suite" / "run" / "time" / "batch.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js" integrity="sha384-x"'
        ' crossorigin="anonymous"></script>'
        "<style>.a { background: url('https://great-expectations-web-assets.s3.us-east-2"
        ".amazonaws.com/full_logo_dark.png') }</style>"
        '<a class="x" href="https://greatexpectations.io">GX</a>'
    )
    localise_assets(tmp_path)
    html = page.read_text()
    assert 'href="../../../../static/vendor/bootstrap/dist/css/bootstrap.min.css"' in html
    assert '<script src="../../../../static/vendor/jquery/dist/jquery.min.js">' in html
    assert "url('../../../../static/images/logo-long.png')" in html
    assert '<a class="x">GX</a>' in html
    assert (tmp_path / "static/vendor/jquery/dist/jquery.min.js").is_file()
    assert (tmp_path / "static/images/logo-long.png").is_file()


def test_served_over_http_the_index_and_its_styles_load(
    seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make ui` serves: the site over HTTP from 127.0.0.1, its CSS from the same server."""
    _require_assets()
    monkeypatch.setenv("SCHEMAFLOW_GX_DOCS_DIR", str(tmp_path))
    run_suites(seeded_url, environment="local", run_name="served", suites=["table_shape"])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/local/"
        index = urllib.request.urlopen(base + "index.html", timeout=10).read().decode()
        assert "served" in index
        css = re.search(r'href="(static/vendor/bootstrap/[^"]+\.css)"', index)
        assert css, "the index links Bootstrap from the site"
        body = urllib.request.urlopen(base + css.group(1), timeout=10).read()
        assert b"Bootstrap v4.3.1" in body
    finally:
        server.shutdown()
        server.server_close()


def test_docs_url_is_the_http_address_of_a_page_make_ui_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expectations.datadocs import docs_url

    monkeypatch.setenv("SCHEMAFLOW_GX_DOCS_DIR", str(tmp_path / "docs"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("SCHEMAFLOW_GX_DOCS_URL", raising=False)
    index = tmp_path / "docs" / "staging" / "index.html"
    assert docs_url(index) is None, "no server running: no http link"
    (tmp_path / "prefect").mkdir()
    (tmp_path / "prefect" / "docs.pid").write_text("1")
    (tmp_path / "prefect" / "docs.port").write_text("4201\n")
    assert docs_url(index) == "http://127.0.0.1:4201/staging/index.html"
    monkeypatch.setenv("SCHEMAFLOW_GX_DOCS_URL", "http://127.0.0.1:5999/")
    assert docs_url(index) == "http://127.0.0.1:5999/staging/index.html"
    assert docs_url(tmp_path / "elsewhere" / "index.html") is None


def test_inside_a_flow_run_the_run_is_named_after_it_and_goes_to_its_environment(
    prefect_harness: None, seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks call run_suites(url) as before; the flow run's name and the task's environment decide."""
    from prefect import flow, task

    monkeypatch.setenv("SCHEMAFLOW_GX_DOCS_DIR", str(tmp_path))

    @task
    def check(url: str, environment: str) -> str:
        return str(run_suites(url, suites=["table_shape"]).data_docs_index)

    @flow(flow_run_name="migrate-staging-docs-test")
    def deploy(url: str) -> str:
        return check(url, "staging")

    index = deploy(seeded_url)
    assert index == str(tmp_path / "staging" / "index.html")
    assert "migrate-staging-docs-test" in Path(index).read_text()


def test_the_null_check_shows_the_nulls_it_found() -> None:
    from great_expectations.core import ExpectationValidationResult

    from expectations.observed_values import null_count_text

    def result(**found: object) -> ExpectationValidationResult:
        return ExpectationValidationResult(success=not found.get("unexpected_count"), result=found)

    assert null_count_text(result(element_count=0, unexpected_count=None, unexpected_percent=None)) == (
        "no null values"
    )
    assert null_count_text(result(element_count=5, unexpected_count=3, unexpected_percent=60.0)) == (
        "3 null values"
    )
    assert "did not run" in null_count_text(result())
