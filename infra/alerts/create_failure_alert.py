"""Create (or replace) a Prefect automation that notifies people when a tuneline flow run fails.

Needs a real server: PREFECT_API_URL must point at it. Run with the project's venv:

    PREFECT_API_URL=http://prefect.internal:4200/api \
    TUNELINE_ALERT_WEBHOOK_URL=https://chat.example.com/hooks/XXXX \
    .venv/bin/python infra/alerts/create_failure_alert.py

E-mail instead of (or as well as) a webhook, through SendGrid (the e-mail block that ships with
Prefect 3.8.8): set SENDGRID_API_KEY, TUNELINE_ALERT_EMAIL_FROM and TUNELINE_ALERT_EMAIL_TO
(comma-separated). Re-running replaces the blocks and the automation; nothing is duplicated.
"""

from __future__ import annotations

import argparse
import os
import sys

AUTOMATION_NAME = "tuneline-flow-run-failed"
FLOWS = ["tuneline-training", "tuneline-monitoring"]
# Failed, Crashed (infrastructure died) and TimedOut (a Failed state with its own name, emitted
# as its own event) all mean that nobody gets a new model or a drift verdict until a person looks.
STATES = ["Failed", "Crashed", "TimedOut"]

SUBJECT = "tuneline: {{ flow.name }} run {{ flow_run.name }} is {{ flow_run.state.name }}"
BODY = (
    "Flow run {{ flow.name }}/{{ flow_run.name }} entered {{ flow_run.state.name }} "
    "at {{ flow_run.state.timestamp }}.\n"
    "Message: {{ flow_run.state.message }}\n"
    "Parameters: {{ flow_run.parameters }}\n"
    "Flow run id: {{ flow_run.id }}"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhook-url", default=os.environ.get("TUNELINE_ALERT_WEBHOOK_URL"))
    parser.add_argument("--flow", action="append", dest="flows",
                        help=f"flow name to watch (repeatable; default: {', '.join(FLOWS)})")
    args = parser.parse_args()

    from prefect.automations import Automation, EventTrigger, SendNotification
    from prefect.blocks.notifications import CustomWebhookNotificationBlock, SendgridEmail
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        print("PREFECT_API_URL is not set: automations need a real Prefect server",
              file=sys.stderr)
        return 2

    block_ids = []
    if args.webhook_url:
        # {{subject}} and {{body}} are filled in by the block; adapt json_data to your receiver
        # (Slack and Mattermost take {"text": ...}; MS Teams has its own block type).
        webhook = CustomWebhookNotificationBlock(
            name="tuneline-alerts", url=args.webhook_url,
            json_data={"text": "{{subject}}\n{{body}}"})
        block_ids.append(webhook.save("tuneline-alerts-webhook", overwrite=True))
    if os.environ.get("SENDGRID_API_KEY"):
        email = SendgridEmail(
            api_key=os.environ["SENDGRID_API_KEY"],
            sender_email=os.environ["TUNELINE_ALERT_EMAIL_FROM"],
            to_emails=[a.strip() for a in os.environ["TUNELINE_ALERT_EMAIL_TO"].split(",")])
        block_ids.append(email.save("tuneline-alerts-email", overwrite=True))
    if not block_ids:
        print("nothing to notify: pass --webhook-url (or TUNELINE_ALERT_WEBHOOK_URL) "
              "and/or set SENDGRID_API_KEY", file=sys.stderr)
        return 2

    try:
        Automation.read(name=AUTOMATION_NAME).delete()
    except ValueError:
        pass  # not there yet

    automation = Automation(
        name=AUTOMATION_NAME,
        description="Notify the ML platform team when a tuneline flow run fails.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow",
                           "prefect.resource.name": args.flows or FLOWS},
            expect={f"prefect.flow-run.{state}" for state in STATES},
            for_each={"prefect.resource.id"},
            posture="Reactive",
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY)
                 for block_id in block_ids],
    ).create()
    print(f"automation {automation.name} ({automation.id}): flows {args.flows or FLOWS}, "
          f"states {STATES}, {len(block_ids)} notification block(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
