"""Long SQL in one line of a report, a log or a history detail: whitespace folded, cut with a mark.

A statement cut at a fixed width without a mark reads as a whole one (`... CHECK (` looked like a
statement that ends there); the ellipsis says the rest is in the plan.
"""

from __future__ import annotations

ELLIPSIS = " …"


def clip(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, cut at a word and marked when it was longer."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - len(ELLIPSIS)]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut) + ELLIPSIS
