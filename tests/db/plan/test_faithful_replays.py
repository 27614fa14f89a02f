"""Statements no catalog shows still take effect on an existing database, and no password is shown.

A rotated password, a role's session settings, reference rows and a LOGIN role the file creates with a
password: the old whole-file run applied each of them on every deploy; a plan must too (replayed when
the live database lacks their effect, compared where the catalog holds them), and a second plan is
empty. Roles are cluster-wide: each test declares its own, uniquely named, and drops it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from db.catalog.drift import check_drift
from db.plan.database import plan_database
from db.plan.render import render_markdown, render_script, render_text
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema
from db.schema.replayed import UnplannableStatement, replayed_statements

OLD, NEW = "old-Pa55word-4f1", "new-Pa55word-9c2"
PLANS = """
INSERT INTO public.plans (code, name, monthly_price_cents, max_podcasts)
VALUES ('sf_free', 'Free', 0, 1), ('sf_studio', 'Studio', 4900, 25)
ON CONFLICT (code) DO NOTHING;
"""


def role_block(role: str, password: str) -> str:
    return f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE podcast_app;
    END IF;
END $$;
"""


@pytest.fixture
def role(seeded_url: str) -> Iterator[str]:
    name = f"sf_login_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def migrate(url: str, text: str) -> None:
    apply_schema(url, text, environment="test", lock_timeout="5s", statement_timeout="60s", lock_retries=1)


def logs_in(url: str, role: str, password: str) -> bool:
    try:
        with psycopg.connect(make_conninfo(url, user=role, password=password, host="127.0.0.1")):
            return True
    except psycopg.OperationalError:
        return False


def everything_shown(url: str, text: str) -> str:
    """Every rendering of the plan, the drift report and the history rows, as one text."""
    plan = plan_database(url, text)
    report = check_drift(url, schema_sql=text)
    return "\n".join(
        [
            json.dumps(plan.as_dict()),
            render_text(plan),
            render_markdown(plan),
            render_script(plan),
            json.dumps(report.as_dict()),
            history_rows(url),
        ]
    )


def history_rows(url: str) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT row_to_json(h)::text FROM schemaflow.migration_history h").fetchall()
    return "\n".join(r[0] for r in rows)


@pytest.mark.slow
def test_a_rotated_password_takes_effect_and_is_never_shown(seeded_url: str, role: str) -> None:
    base = read_schema() + role_block(role, OLD)
    migrate(seeded_url, base)  # the role is new: created, then its password set from the file
    assert logs_in(seeded_url, role, OLD)
    assert plan_database(seeded_url, base).is_empty, "the password in effect is planned again"

    rotated = base + f"ALTER ROLE {role} PASSWORD '{NEW}';\n"
    plan = plan_database(seeded_url, rotated)
    assert [(s.action, s.kind, s.name) for s in plan.steps] == [("replay", "role", role)]
    assert plan.steps[0].sql == f"ALTER ROLE {role} PASSWORD '***'"
    # What runs carries a SCRAM verifier, never the clear text a server log could keep.
    assert "SCRAM-SHA-256$" in plan.steps[0].secret_sql and NEW not in plan.steps[0].secret_sql
    shown = everything_shown(seeded_url, rotated)
    assert NEW not in shown and OLD not in shown
    assert f"ALTER ROLE {role} PASSWORD '***'" in shown

    migrate(seeded_url, rotated)
    assert logs_in(seeded_url, role, NEW) and not logs_in(seeded_url, role, OLD)
    assert plan_database(seeded_url, rotated).is_empty
    history = history_rows(seeded_url)
    assert role in history and NEW not in history


@pytest.mark.slow
def test_a_login_role_the_file_creates_gets_its_password(seeded_url: str, role: str) -> None:
    text = read_schema() + role_block(role, OLD)
    plan = plan_database(seeded_url, text)
    actions = [(s.action, s.kind) for s in plan.steps if s.name == role]
    assert actions[0] == ("create", "role") and ("replay", "role") in actions, actions
    migrate(seeded_url, text)
    assert logs_in(seeded_url, role, OLD)


@pytest.mark.slow
def test_role_settings_take_effect_and_compare(seeded_url: str, role: str) -> None:
    text = read_schema() + role_block(role, OLD) + f"ALTER ROLE {role} SET statement_timeout = '5s';\n"
    migrate(seeded_url, text)
    with psycopg.connect(make_conninfo(seeded_url, user=role, password=OLD)) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
    assert plan_database(seeded_url, text).is_empty

    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = '1h'").format(sql.Identifier(role)))
    report = check_drift(seeded_url, schema_sql=text)
    assert [(d.kind, d.name, d.status) for d in report.differences] == [("role", role, "changed")]
    assert "statement_timeout=1h" in report.differences[0].detail


@pytest.mark.slow
def test_reference_rows_are_inserted_once(seeded_url: str) -> None:
    text = read_schema() + PLANS
    plan = plan_database(seeded_url, text)
    replays = [s for s in plan.steps if s.action == "replay"]
    assert [(s.kind, s.name) for s in replays] == [("table", "public.plans")]
    assert "2 of the file's rows" in replays[0].reason
    migrate(seeded_url, text)
    with psycopg.connect(seeded_url) as conn:
        codes = conn.execute("SELECT code FROM public.plans WHERE code LIKE 'sf\\_%' ORDER BY 1").fetchall()
    assert codes == [("sf_free",), ("sf_studio",)]
    assert plan_database(seeded_url, text).is_empty
    assert not check_drift(seeded_url, schema_sql=text).has_drift


def test_an_insert_without_on_conflict_is_refused_with_its_line() -> None:
    text = read_schema() + "INSERT INTO public.plans (code, name) VALUES ('x', 'X');\n"
    line = text.count("\n", 0, text.index("INSERT INTO public.plans (code, name)")) + 1
    with pytest.raises(UnplannableStatement) as refused:
        replayed_statements(text)
    assert refused.value.line == line and f"line {line}" in str(refused.value)
    assert "ON CONFLICT" in (refused.value.hint or "")


SETTINGS = ["ALTER DATABASE podcast_analytics SET work_mem = '64MB';", "ALTER SYSTEM SET work_mem = '64MB';"]


@pytest.mark.parametrize("statement", SETTINGS)
def test_a_statement_no_plan_applies_is_refused_with_its_line(statement: str) -> None:
    text = read_schema() + statement + "\n"
    with pytest.raises(UnplannableStatement) as refused:
        replayed_statements(text)
    assert refused.value.line == text.count("\n", 0, text.index(statement)) + 1
    assert "ALTER ROLE ... SET" in (refused.value.hint or "")
