"""`schemaflow migrate --allow-hazard KIND`: an unknown kind is a usage error before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import build_parser, main
from tests.support.environments import use_test_environments


def test_an_unknown_hazard_kind_is_refused_before_prefect_or_a_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    use_test_environments(tmp_path, "postgresql://nobody@127.0.0.1:1/none", monkeypatch)
    assert main(["migrate", "--env", "dev", "--allow-hazard", "rewrite_table"]) == 2
    err = capsys.readouterr().err
    assert "unknown hazard kind(s): rewrite_table" in err and "rewrites_table" in err


def test_the_flag_repeats() -> None:
    args = build_parser().parse_args(
        ["migrate", "--env", "dev", "--allow-hazard", "rewrites_table", "--allow-hazard", "blocks_reads"]
    )
    assert args.allow_hazard == ["rewrites_table", "blocks_reads"]
