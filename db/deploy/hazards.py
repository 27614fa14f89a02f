"""The hazard gate: a plan whose steps carry hazards the environment does not allow stops untouched.

`allow_hazards` in environments.toml sets what an environment accepts (local: all; staging and
production: none); `--allow-hazard KIND` / the flow's `allow_hazards` parameter adds kinds for one
run, after a person has read the plan.
"""

from __future__ import annotations

from collections.abc import Iterable

from db.errors import ConfigError, HazardsNotAllowed
from db.plan.model import Hazard, Plan
from db.plan.render import describe_step

ALL = "all"  # allow_hazards = ["all"]: every kind (the local environment)


def allowed_hazards(configured: Iterable[str], extra: Iterable[str] = ()) -> set[Hazard]:
    """The hazards a run may execute: the environment's and the run's own; raise on an unknown kind."""
    names = {str(name).strip().lower() for name in [*configured, *extra] if str(name).strip()}
    if ALL in names:
        return set(Hazard)
    known = {h.value for h in Hazard}
    unknown = sorted(names - known)
    if unknown:
        raise ConfigError(
            f"unknown hazard kind(s): {', '.join(unknown)}",
            hint=f"use {', '.join(sorted(known))}, or {ALL}",
        )
    return {Hazard(name) for name in names}


def refuse_unallowed_hazards(plan: Plan, allowed: set[Hazard], environment: str) -> None:
    """Raise HazardsNotAllowed listing each step the gate stops on and how to allow it."""
    blocked = plan.steps_with_hazards_not_in(allowed)
    if not blocked:
        return
    numbers = {id(step): n for n, step in enumerate(plan.steps, 1)}
    kinds = sorted({str(h) for step in blocked for h in step.hazards if h not in allowed})
    listed = "; ".join(f"step {numbers[id(step)]}: {describe_step(step)}" for step in blocked)
    flags = " ".join(f"--allow-hazard {kind}" for kind in kinds)
    raise HazardsNotAllowed(
        f"the plan has {len(blocked)} step(s) with hazards not allowed in {environment} "
        f"({', '.join(kinds)}); nothing was changed. {listed}",
        hint=f"read the steps; to run them anyway pass {flags} (flow parameter allow_hazards), or add "
        f"the kinds to allow_hazards of [environments.{environment}] in environments.toml",
        steps=blocked,
    )
