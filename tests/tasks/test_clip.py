"""Long SQL cut for one line of a report or log says it was cut, and stays on one line."""

from __future__ import annotations

from db.clip import ELLIPSIS, clip
from tasks.reporting import _step_table

CHECK = """ALTER TABLE public.episodes
    ADD CONSTRAINT episodes_duration_check CHECK (duration_seconds IS NULL OR duration_seconds >= 0)"""


def test_clip_folds_lines_cuts_at_a_word_and_marks_the_cut() -> None:
    assert clip(CHECK, 500) == " ".join(CHECK.split())
    cut = clip(CHECK, 60)
    assert len(cut) <= 60 and cut.endswith(ELLIPSIS) and "\n" not in cut
    assert " ".join(CHECK.split()).startswith(cut.removesuffix(ELLIPSIS))
    assert not cut.removesuffix(ELLIPSIS).endswith(" ")


def test_a_step_table_row_is_one_line_and_a_long_statement_is_marked_as_cut() -> None:
    step = {"step": "1", "status": "done", "where": "in transaction", "lock": "ACCESS EXCLUSIVE",
            "seconds": "0.01", "lock wait (s)": "0", "sql": CHECK + " -- " + "x " * 200}  # fmt: skip
    rows = _step_table([step])
    [row] = [line for line in rows if line.startswith("| 1 |")]
    assert row.endswith(f"{ELLIPSIS}` |") and "CHECK (duration_seconds IS NULL" in row
