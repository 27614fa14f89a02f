"""Data Docs a person can open: one site per environment, runs named after the flow run, history kept.

The validating context is ephemeral (it holds the connection string); this module keeps a second,
file-backed GX context per Data Docs folder that has no datasource at all, so nothing on disk can
hold a credential. Each run's validation results and suites are copied into its stores, the new
pages are built incrementally, and runs beyond `keep_runs` are pruned with their pages.

GX's page templates load Bootstrap, jQuery, Font Awesome, bootstrap-table and Vega from CDNs, and
GX has no setting for that (a custom views directory only adds templates; the packaged ones win).
So after each build the links are rewritten to copies under the site's `static/vendor/`, which
scripts/setup-datadocs.sh installs from npm. Without them the pages keep their CDN links.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from expectations.context import default_data_docs_dir, import_gx
from expectations.observed_values import show_null_counts

log = logging.getLogger(__name__)
# scripts/ui.sh serves default_data_docs_dir() over HTTP and says where in this variable (and files).
DOCS_URL_ENV = "SCHEMAFLOW_GX_DOCS_URL"
# ui.sh keeps its PID and port files in PREFECT_HOME, which defaults to Prefect's own ~/.prefect.
DEFAULT_PREFECT_HOME = Path.home() / ".prefect"
SITE_NAME = "schemaflow_docs"
KEEP_RUNS_ENV = "SCHEMAFLOW_GX_DOCS_KEEP_RUNS"
DEFAULT_KEEP_RUNS = 30
NODE_MODULES = Path(__file__).resolve().parents[1] / "scripts" / "datadocs" / "node_modules"
VENDOR = "static/vendor"
# What the GX templates load from CDNs -> the same file under node_modules (package.json pins them).
CDN_ASSETS: dict[str, str] = json.loads((NODE_MODULES.parent / "cdn-assets.json").read_text())["assets"]
# Copied whole: the Font Awesome stylesheet loads its fonts from ../webfonts/.
VENDOR_DIRS = ("@fortawesome/fontawesome-free/webfonts",)
# The navbar logo comes from GX's own bucket; the site already has the same file under static/images.
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
_URL_ATTR = re.compile(r'(?P<attr>\b(?:src|href))="(?P<url>https?://[^"]*)"')
_CSS_URL = re.compile(r"url\('(?P<url>https?://[^']*)'\)")
# GX's dark-mode stylesheet names a logo its package does not ship; the light one stands in.
GX_IMAGE_STAND_INS = {"full_logo_dark.png": "logo-long.png"}
_SRI_ATTRS = re.compile(r'\s(?:integrity|crossorigin)="[^"]*"')
# Links out (GX's site, its how-to guides) would not open offline either: their href is dropped.
_EXTERNAL_LINK = re.compile(r'(<a\b[^>]*?)\s+href="https?://[^"]*"')

GX_PACKAGE_IMAGES = Path(importlib.util.find_spec("great_expectations").origin or ".").parent.joinpath(  # type: ignore[union-attr]
    "render", "view", "static", "images"
)

_contexts: dict[Path, Any] = {}
_published_suites: set[tuple[Path, str]] = set()


def publish(
    docs_dir: Path, suites: Iterable[Any], results: dict[Any, Any], *, keep_runs: int | None = None
) -> Path:
    """Add one checkpoint run's suites and validation results to the site in `docs_dir`; return index.html.

    `results` maps GX ValidationResultIdentifiers to their ExpectationSuiteValidationResults.
    """
    show_null_counts()
    context = _docs_context(docs_dir)
    for suite in suites:
        # Re-serialising an unchanged suite costs a quarter second each; the docs only need it once.
        fingerprint = (docs_dir.resolve(), json.dumps(suite.to_json_dict(), sort_keys=True, default=str))
        if fingerprint not in _published_suites:
            context.suites.add_or_update(_copy_suite(suite))
            _published_suites.add(fingerprint)
    store = context.validation_results_store
    for key, result in results.items():
        store.set(key, result)
    pruned = _prune(store, keep_runs if keep_runs is not None else _keep_runs())
    _remove_pages(docs_dir, pruned)
    context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=list(results))
    localise_assets(docs_dir)
    return docs_dir / "index.html"


def docs_url(index: Path) -> str | None:
    """The http:// address of a Data Docs page when `make ui` serves its folder, else None."""
    base = os.environ.get(DOCS_URL_ENV)
    if not base:
        state = Path(os.environ.get("PREFECT_HOME") or DEFAULT_PREFECT_HOME)
        if not ((state / "docs.pid").is_file() and (state / "docs.port").is_file()):
            return None
        base = f"http://127.0.0.1:{(state / 'docs.port').read_text().strip()}"
    try:
        relative = index.resolve().relative_to(default_data_docs_dir().resolve())
    except ValueError:  # built somewhere the server does not serve
        return None
    return f"{base.rstrip('/')}/{relative.as_posix()}"


def _copy_contents(source: Path, target: Path) -> None:
    """Copy a file, or a folder's files, by content only: the copies get this process's umask (private
    under make ui), where copy2/copytree would carry the vendored files' 0644/0755 over."""
    for path in [source, *source.rglob("*")]:
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


def localise_assets(site: Path) -> None:
    """Copy the vendored CSS/JS into `site` and point every page at them (no-op without node_modules)."""
    if not NODE_MODULES.is_dir():
        log.warning(
            "Data Docs load their styles from CDNs: run scripts/setup-datadocs.sh (npm) to serve them locally"
        )
        return
    vendor = site / VENDOR
    images = site / "static" / "images"
    images.mkdir(parents=True, exist_ok=True)
    for image in GX_PACKAGE_IMAGES.glob("*.png"):  # the site builder copies only some of them
        if not (images / image.name).exists():
            shutil.copyfile(image, images / image.name)
    for relative in [*CDN_ASSETS.values(), *VENDOR_DIRS]:
        source, target = NODE_MODULES / relative, vendor / relative
        if not target.exists():
            _copy_contents(source, target)
    for page in site.rglob("*.html"):
        if VENDOR in page.relative_to(site).as_posix():
            continue
        text = page.read_text(encoding="utf-8")
        rewritten = _rewrite(text, Path(os.path.relpath(site, page.parent)))
        if rewritten != text:
            page.write_text(rewritten, encoding="utf-8")


def _rewrite(html: str, to_site: Path) -> str:
    """CDN links -> relative links into static/vendor (or static/images); links out -> plain text."""
    html = _EXTERNAL_LINK.sub(r"\1", html)

    def local(url: str) -> str:
        bare = url.split("?", 1)[0]
        if bare in CDN_ASSETS:
            return (to_site / VENDOR / CDN_ASSETS[bare]).as_posix()
        if bare.startswith(GX_IMAGES):
            name = bare[len(GX_IMAGES) :]
            return (to_site / "static" / "images" / GX_IMAGE_STAND_INS.get(name, name)).as_posix()
        log.warning("Data Docs page loads %s, which has no local copy; dropped", bare)
        return "#"

    html = _URL_ATTR.sub(lambda m: f'{m.group("attr")}="{local(m.group("url"))}"', html)
    html = _CSS_URL.sub(lambda m: f"url('{local(m.group('url'))}')", html)
    # Subresource-integrity hashes name the CDN's bytes; the local copies are checked by npm instead.
    return re.sub(r"<(script|link)\b[^>]*>", lambda m: _SRI_ATTRS.sub("", m.group(0)), html)


def _docs_context(docs_dir: Path) -> Any:
    """The file-backed context of a Data Docs folder (made on first use): stores, a site, no datasource."""
    docs_dir = docs_dir.resolve()
    if docs_dir in _contexts:
        return _contexts[docs_dir]
    gx = import_gx()
    docs_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(docs_dir))
    sites = context.list_data_docs_sites()
    if list(sites) != [SITE_NAME]:
        for name in list(sites):
            context.delete_data_docs_site(name)
        context.add_data_docs_site(
            SITE_NAME,
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    _contexts[docs_dir] = context
    return context


def _copy_suite(suite: Any) -> Any:
    """The suite as a new object for the docs context (a suite belongs to the context that made it)."""
    gx = import_gx()
    data = suite.to_json_dict()
    return gx.ExpectationSuite(
        name=data["name"],
        expectations=[_expectation(e) for e in data.get("expectations", [])],
        meta=data.get("meta") or {},
    )


def _expectation(config: dict) -> Any:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    config = {k: v for k, v in config.items() if k != "id"}
    kwargs = config.pop("kwargs", {})
    return ExpectationConfiguration(type=config.pop("type"), kwargs=kwargs, **config).to_domain_obj()


def _keep_runs() -> int:
    try:
        return max(1, int(os.environ.get(KEEP_RUNS_ENV, DEFAULT_KEEP_RUNS)))
    except ValueError:
        return DEFAULT_KEEP_RUNS


def _prune(store: Any, keep_runs: int) -> list[Any]:
    """Forget the results of all but the newest `keep_runs` runs; return the keys removed."""
    keys = list(store.list_keys())
    runs = sorted({(k.run_id.run_time, k.run_id.run_name) for k in keys}, reverse=True)
    old = set(runs[keep_runs:])
    removed = [k for k in keys if (k.run_id.run_time, k.run_id.run_name) in old]
    for key in removed:
        store.remove_key(key)
    return removed


def _remove_pages(docs_dir: Path, keys: list[Any]) -> None:
    """Delete the validation pages of pruned runs (the index no longer links them)."""
    validations = docs_dir / "validations"
    for key in keys:
        suite_dir = validations.joinpath(*key.expectation_suite_identifier.name.split("."))
        run_dir = suite_dir / str(key.run_id.run_name)
        shutil.rmtree(run_dir / key.run_id.run_time.strftime("%Y%m%dT%H%M%S.%fZ"), ignore_errors=True)
        if run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()
