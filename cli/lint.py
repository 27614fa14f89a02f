"""`schemaflow lint [FILE]`: static checks of a re-runnable schema file (default: the master file).

Exit 0 when clean, 1 when there are findings, 2 when the file is missing.
"""

from __future__ import annotations

import argparse

from db.schema.lint import lint_file
from db.schema.master_file import MASTER_SCHEMA


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "lint", help="check that a schema file parses, is idempotent and destroys nothing"
    )
    parser.add_argument(
        "file", nargs="?", default=str(MASTER_SCHEMA), help="SQL file to check (default: the master schema)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    findings = lint_file(args.file)
    for finding in findings:
        print(finding.format(args.file))
        print(f"    what to do: {finding.hint}")
    if findings:
        print(f"{len(findings)} finding(s) in {args.file}")
        return 1
    print(f"{args.file}: ok")
    return 0
