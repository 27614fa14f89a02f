"""Create the Prefect server objects schemaflow relies on; run by scripts/ui.sh after the server is up.

- one global concurrency limit `migrate-<env>` (1 slot) per environment in environments.toml, which
  the migrate flow holds for its whole run (tasks/concurrency.py);
- the `schemaflow-alerts` webhook block, from SCHEMAFLOW_ALERT_WEBHOOK_URL when it is set;
- every automation in automations/*.yaml, replaced by name, with `block: NAME` in a
  send-notification action resolved to that block's id (no block: the action becomes do-nothing).

Idempotent: run it as often as you like. Talks to the server in PREFECT_API_URL.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALERT_BLOCK = "schemaflow-alerts"
WEBHOOK_VAR = "SCHEMAFLOW_ALERT_WEBHOOK_URL"
# Set to true to allow a webhook on a private or loopback address (a self-hosted chat, the tests).
ALLOW_PRIVATE_VAR = "SCHEMAFLOW_ALERT_ALLOW_PRIVATE_URLS"


def say(message: str) -> None:
    print(f"ui: {message}", file=sys.stderr)


def ensure_concurrency_limits() -> None:
    from db.connection.environments import load_environments
    from tasks.concurrency import ensure_limit, limit_name

    for name in sorted(load_environments()):
        ensure_limit(name)
        say(f"  concurrency limit {limit_name(name)}: 1 slot")


def ensure_alert_block() -> str | None:
    """The webhook block's id, (re)saved from the variable; None when no webhook is configured."""
    url = os.environ.get(WEBHOOK_VAR, "").strip()
    if not url:
        say(
            f"WARNING: {WEBHOOK_VAR} is not set: failed production runs notify nobody "
            "(set it, then run make ui again)"
        )
        return None
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(  # type: ignore[call-arg]
        name="schemaflow",
        url=url,
        method="POST",
        json_data={"text": "{{subject}}\n{{body}}", "title": "{{subject}}"},
        allow_private_urls=os.environ.get(ALLOW_PRIVATE_VAR, "").lower() in ("1", "true", "yes"),
    )
    block_id = block.save(ALERT_BLOCK, overwrite=True)
    say(f"  notification block {ALERT_BLOCK}: webhook saved")
    return str(block_id)


def automation_from(path: Path, block_id: str | None) -> Any:
    from prefect.automations import Automation

    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    actions = []
    for action in spec.get("actions", []):
        action = dict(action)
        if action.get("type") == "send-notification":
            action.pop("block", None)
            if block_id is None:
                action = {"type": "do-nothing"}
            else:
                action["block_document_id"] = block_id
        actions.append(action)
    return Automation.model_validate({**spec, "actions": actions})


def apply_automations(block_id: str | None) -> None:
    from prefect.automations import Automation

    for path in sorted((ROOT / "automations").glob("*.yaml")):
        automation = automation_from(path, block_id)
        with contextlib.suppress(ValueError):  # not there yet
            Automation.read(name=automation.name).delete()  # type: ignore[attr-defined]
        automation.create()
        say(f"  automation {automation.name} ({path.name})")


def main() -> int:
    ensure_concurrency_limits()
    apply_automations(ensure_alert_block())
    return 0


if __name__ == "__main__":
    sys.exit(main())
