"""Squawk over plans: a blocking statement is flagged; the executor's own online forms pass."""

from __future__ import annotations

from db.plan.model import Hazard, LockLevel, Plan, Step
from db.plan.squawk import FORM_EXEMPTIONS, SQUAWK_EXCLUDED_RULES, lint_plan
from tests.support.online_plan import online_plan


def _plan(*steps: Step) -> Plan:
    return Plan(steps=tuple(steps), schema_checksum="s" * 64, catalog_checksum="c" * 64)


BLOCKING_INDEX = Step(
    sql="CREATE INDEX IF NOT EXISTS idx_episodes_title ON public.episodes (title)",
    kind="index",
    name="public.idx_episodes_title",
    action="create",
    lock=LockLevel.SHARE,
    relation="public.episodes",
    hazards=(Hazard.BLOCKS_WRITES,),
)
FK_WITHOUT_NOT_VALID = Step(
    sql="ALTER TABLE public.episodes ADD CONSTRAINT episodes_podcast_fk FOREIGN KEY (tenant_id, podcast_id) "
    "REFERENCES public.podcasts (tenant_id, id)",
    kind="constraint",
    name="public.episodes.episodes_podcast_fk",
    action="create",
    lock=LockLevel.SHARE_ROW_EXCLUSIVE,
    relation="public.episodes",
)
NOT_NULL_THROUGH_CHECK = (
    Step(sql="ALTER TABLE public.episodes ADD CONSTRAINT title_not_null_schemaflow CHECK (title IS NOT NULL) "
         "NOT VALID", kind="column", name="public.episodes.title", action="alter",
         relation="public.episodes"),
    Step(sql="ALTER TABLE public.episodes VALIDATE CONSTRAINT title_not_null_schemaflow", kind="column",
         name="public.episodes.title", action="validate", transactional=False, relation="public.episodes"),
    Step(sql="ALTER TABLE public.episodes ALTER COLUMN title SET NOT NULL", kind="column",
         name="public.episodes.title", action="alter", transactional=False, relation="public.episodes"),
    Step(sql="ALTER TABLE public.episodes DROP CONSTRAINT title_not_null_schemaflow", kind="column",
         name="public.episodes.title", action="alter", transactional=False, relation="public.episodes"),
)  # fmt: skip


def test_a_blocking_index_build_and_a_validating_foreign_key_are_flagged_on_their_steps() -> None:
    findings = lint_plan(_plan(NOT_NULL_THROUGH_CHECK[0], BLOCKING_INDEX, FK_WITHOUT_NOT_VALID))
    by_step = {(f.step, f.rule) for f in findings}
    assert (2, "require-concurrent-index-creation") in by_step, findings
    assert (3, "adding-foreign-key-constraint") in by_step, findings
    assert all(f.step != 1 for f in findings), findings


def test_the_executors_online_forms_pass() -> None:
    assert lint_plan(online_plan()) == []
    assert lint_plan(_plan(*NOT_NULL_THROUGH_CHECK)) == []


def test_every_turned_off_rule_says_why() -> None:
    assert all(reason for reason in {**SQUAWK_EXCLUDED_RULES, **FORM_EXEMPTIONS}.values())
    assert lint_plan(_plan()) == []
