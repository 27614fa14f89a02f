"""`schemaflow lint [FILE] [--json]`: static checks of a re-runnable schema file (default: the master file).

Exit 0 when clean, 1 when there are findings, 2 when the file is missing.
"""

from __future__ import annotations

import argparse

from rich.text import Text

from cli.console import out, print_json, print_raw, status
from cli.exit_codes import ExitCode
from db.schema.lint import lint_file
from db.schema.master_file import MASTER_SCHEMA


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "lint", help="check that a schema file parses, is idempotent and destroys nothing"
    )
    parser.add_argument(
        "file", nargs="?", default=str(MASTER_SCHEMA), help="SQL file to check (default: the master schema)"
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    findings = lint_file(args.file)
    code = ExitCode.FAILED if findings else ExitCode.OK
    if args.json:
        print_json(
            {
                "file": args.file,
                "ok": not findings,
                "findings": [
                    {"line": f.line, "rule": f.rule, "name": f.name, "message": f.message, "hint": f.hint}
                    for f in findings
                ],
            }
        )
        return code
    for finding in findings:
        # path:line: first, unwrapped, so editors and CI annotations can jump to it.
        print_raw(finding.format(args.file))
        out(f"    what to do: {finding.hint}")
    if findings:
        out(Text.assemble(status("fail"), f" {len(findings)} finding(s) in {args.file}"))
    else:
        out(Text.assemble(status("pass"), f" {args.file}: ok"))
    return code
