"""What the Data Docs print as a null check's observed value: the nulls it found, not "NaN% not null".

GX renders expect_column_values_to_not_be_null's observed value as `100 - unexpected_percent`. The
suites validate big tables through an offenders batch (expectations/spec.py: only the rows that
break some check), so a passing check sees no rows, GX reports unexpected_percent (and
unexpected_count) as None and its renderer prints "NaN% not null"; with offenders present the
percent would be of the offenders, not of the table. The number of null values found is what the
check measured, so the docs show that.
"""

from __future__ import annotations

import logging
from typing import Any, cast

NOT_NULL = "expect_column_values_to_not_be_null"
_registered = False


def null_count_text(result: Any) -> str:
    """'no null values', '3 null values', or why there is no figure (a check that raised)."""
    measured = getattr(result, "result", None) or {}
    found = measured.get("unexpected_count")
    if found is None and measured.get("element_count") == 0:
        found = 0  # GX counts nothing in a batch of no rows: there is no null in it
    if found is None:
        return "not measured: the check did not run (see its exception)"
    return "no null values" if found == 0 else f"{found:,} null value{'s' if found != 1 else ''}"


def show_null_counts() -> None:
    """Replace GX's observed-value renderer of the not-null check with null_count_text (once)."""
    global _registered
    if _registered:
        return
    from great_expectations.expectations import ExpectColumnValuesToNotBeNull
    from great_expectations.expectations.registry import register_renderer
    from great_expectations.render.components import LegacyDiagnosticRendererType
    from great_expectations.render.renderer.renderer import renderer

    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def observed(result: Any = None, **_: Any) -> str:
        return null_count_text(result)

    registry = logging.getLogger(register_renderer.__module__)
    level = registry.level
    registry.setLevel(logging.ERROR)  # its "Overwriting declaration" warning is this, on purpose
    try:  # cast: GX types renderers as returning content, but its own observed-value ones return str
        register_renderer(NOT_NULL, ExpectColumnValuesToNotBeNull, cast(Any, observed))
    finally:
        registry.setLevel(level)
    _registered = True
