"""One dependency graph decides the order of a plan's steps (no kind-specific ordering anywhere).

Edges, from the catalog's pg_depend (each entry's `depends_on`) and the parent of each entry:
- a step that builds X comes after the steps that build what X needs on the expected side (and its
  parent); a key with no step of its own is provided by its parent's steps (a column by CREATE TABLE);
- a step that drops X comes before the steps that drop or change what X needed on the live side
  (the view goes before the column it reads is retyped; the key before the NOT NULL under it);
- a step that drops X comes after the steps that change its live dependents that stay (a default
  moved off a sequence before the sequence is dropped);
- the steps of one object keep the order their generator gave them.
Ties go to renames, then drops, then builds, each in the order they were generated. Online steps
(transactional=False) run after the transaction commits, so a transactional step that needs an
online one becomes online itself.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from typing import Any

from db.plan.context import BUILD, DROP, RENAME, Planned

_PHASE_RANK = {RENAME: 0, DROP: 1, BUILD: 2}
Snapshot = dict[str, dict[str, dict[str, Any]]]


def _entry(snap: Snapshot, key: str) -> dict[str, Any] | None:
    kind, name = key.split(":", 1)
    return snap.get(kind, {}).get(name)


def _needs(snap: Snapshot, key: str) -> list[str]:
    entry = _entry(snap, key) or {}
    parent = entry.get("parent")
    return [*entry.get("depends_on", ()), *([parent] if parent else [])]


def order_steps(items: list[Planned], expected: Snapshot, actual: Snapshot) -> list[Planned]:
    """The items in an order that satisfies every edge above (cycles are broken by generation order)."""
    builds: dict[str, list[int]] = {}
    drops: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        (drops if item.phase == DROP else builds).setdefault(item.key, []).append(i)

    def providers(key: str, seen: frozenset = frozenset()) -> list[int]:
        if key in builds or key in seen:
            return builds.get(key, [])
        entry = _entry(expected, key)
        parent = entry.get("parent") if entry else None
        return providers(parent, seen | {key}) if parent else []

    after: list[set[int]] = [set() for _ in items]  # after[i]: indexes that must come before i
    last_of_key: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.key in last_of_key:
            after[i].add(last_of_key[item.key])
        last_of_key[item.key] = i
        if item.phase == RENAME:
            after[i].update(j for j in range(i) if items[j].phase == RENAME)
        elif item.phase == BUILD:
            for need in (*_needs(expected, item.key), *item.requires):
                after[i].update(j for j in providers(need) if j != i and items[j].key != item.key)
        else:
            for need in _needs(actual, item.key):
                for j in (*drops.get(need, ()), *builds.get(need, ())):
                    if items[j].key != item.key:
                        after[j].add(i)
    for key, indexes in drops.items():
        for dependent in _dependents(actual, key):
            if dependent in drops:
                continue
            for j in builds.get(dependent, ()):
                after[indexes[0]].add(j)
    return _toposort(items, after)


def _dependents(snap: Snapshot, key: str) -> list[str]:
    out = []
    for kind, entries in snap.items():
        for name, entry in entries.items():
            if key in entry.get("depends_on", ()):
                out.append(f"{kind}:{name}")
    return out


def _toposort(items: list[Planned], after: list[set[int]]) -> list[Planned]:
    before: list[set[int]] = [set() for _ in items]
    for i, deps in enumerate(after):
        for j in deps:
            before[j].add(i)
    waiting = [len(deps) for deps in after]

    def rank(i: int) -> tuple[int, int, int]:
        return (not items[i].step.transactional, _PHASE_RANK[items[i].phase], i)

    ready = [rank(i) for i in range(len(items)) if waiting[i] == 0]
    heapq.heapify(ready)
    done: list[int] = []
    placed = [False] * len(items)
    while len(done) < len(items):
        if not ready:  # a cycle: release the earliest waiting step and go on
            i = min((j for j in range(len(items)) if not placed[j]), key=rank)
            waiting[i] = 0
            heapq.heappush(ready, rank(i))
        i = heapq.heappop(ready)[2]
        if placed[i]:
            continue
        placed[i] = True
        done.append(i)
        for j in before[i]:
            waiting[j] -= 1
            if waiting[j] == 0 and not placed[j]:
                heapq.heappush(ready, rank(j))
    online: set[int] = set()
    for i in done:
        if not items[i].step.transactional or any(j in online for j in after[i]):
            online.add(i)
    result = []
    for i in done:
        item = items[i]
        if i in online and item.step.transactional:
            reason = (
                item.step.reason + "; " if item.step.reason else ""
            ) + "runs after an online step it needs"
            item = Planned(
                replace(item.step, transactional=False, reason=reason), item.key, item.phase, item.requires
            )
        result.append(item)
    return [r for r in result if r.step.transactional] + [r for r in result if not r.step.transactional]
