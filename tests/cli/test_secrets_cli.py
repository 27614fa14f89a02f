"""`schemaflow secrets`: Secret blocks from an environment variable, validated, masked, never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main

SECRET = "n0t-in-0utput"
ENVIRONMENTS = """\
[environments.staging]
secret_block = "schemaflow-test-staging-url"
[environments.local]
local = true
"""


@pytest.fixture
def prefect_api(prefect_harness: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The harness server's API in PREFECT_API_URL, and a small environments file."""
    from prefect.settings import PREFECT_API_URL

    url = str(PREFECT_API_URL.value())
    monkeypatch.setenv("PREFECT_API_URL", url)
    envfile = tmp_path / "environments.toml"
    envfile.write_text(ENVIRONMENTS)
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(envfile))
    return url


def test_set_from_env_stores_the_block_and_masks_the_output(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.blocks.system import Secret

    url = f"postgresql://app:{SECRET}@127.0.0.1:5432/staging"
    monkeypatch.setenv("STAGING_URL_FOR_TEST", url)
    assert main(["secrets", "set", "staging", "--from-env", "STAGING_URL_FOR_TEST", "--overwrite"]) == 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert "schemaflow-test-staging-url" in out.out
    assert Secret.load("schemaflow-test-staging-url").get() == url  # type: ignore[union-attr]

    # Without --overwrite an existing block is kept and the user is told how to replace it.
    assert main(["secrets", "set", "staging", "--from-env", "STAGING_URL_FOR_TEST"]) == 2
    assert "--overwrite" in capsys.readouterr().err

    assert main(["secrets", "list"]) == 0
    assert "PRESENT" in capsys.readouterr().out


def test_bad_inputs_fail_with_one_actionable_line(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["secrets", "set", "local", "--from-env", "X"]) == 2
    assert "has no secret_block" in capsys.readouterr().err
    monkeypatch.delenv("UNSET_URL_VAR", raising=False)
    assert main(["secrets", "set", "staging", "--from-env", "UNSET_URL_VAR"]) == 2
    assert "UNSET_URL_VAR is not set" in capsys.readouterr().err
    # Off loopback without TLS is refused before anything is stored.
    monkeypatch.setenv("REMOTE_URL", f"postgresql://app:{SECRET}@db.example.com/staging")
    assert main(["secrets", "set", "staging", "--from-env", "REMOTE_URL", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "sslmode=require" in err
    assert SECRET not in err
