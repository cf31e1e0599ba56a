"""The send_review_email activity: tell each reviewer who must act on a round, by e-mail,
with the task, an excerpt of the output, the deadline and a link to the run's inbox page
(never a link that decides by being opened). Reviewers without an address, or a worker
without CREW_HITL_SMTP_HOST, are skipped; the run never waits on mail."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from temporalio import activity

from crew_hitl.contracts.history import ReviewEmailInput
from crew_hitl.settings import Settings

log = logging.getLogger("crew_hitl.email")
SMTP_TIMEOUT = 20
SUBJECTS = {
    "requested": "Review needed",
    "reminder": "Reminder: review needed",
    "escalated": "Escalated to you: review needed",
}


class EmailActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._addresses = settings.reviewer_addresses()

    @activity.defn(name="send_review_email")
    async def send_review_email(self, mail: ReviewEmailInput) -> list[str]:
        """The reviewers e-mailed (those with an address, when SMTP is configured)."""
        to = {name: self._addresses[name] for name in mail.reviewers if name in self._addresses}
        if not self._settings.smtp_host or not to:
            return []
        messages = [message(self._settings.smtp_from, address, mail) for address in to.values()]
        await asyncio.to_thread(self._send, messages)
        log.info(
            "run %s: %s e-mail for %s round %d to %s",
            mail.kickoff_id,
            mail.reason,
            mail.task_id,
            mail.round,
            ", ".join(to),
        )
        return list(to)

    def _send(self, messages: list[EmailMessage]) -> None:
        settings = self._settings
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            for item in messages:
                smtp.send_message(item)


def message(sender: str, to: str, mail: ReviewEmailInput) -> EmailMessage:
    item = EmailMessage()
    item["From"] = sender
    item["To"] = to
    item["Subject"] = (
        f"{SUBJECTS.get(mail.reason, SUBJECTS['requested'])}: {mail.task_id} "
        f"of {mail.crew_name} (round {mail.round})"
    )
    deadline = (
        f"Decide by {mail.decide_by.strftime('%Y-%m-%d %H:%M UTC')}.\n\n" if mail.decide_by else ""
    )
    item.set_content(
        f"{mail.task_id} of {mail.crew_name} waits for your review (round {mail.round}).\n\n"
        f"{deadline}"
        f"The output begins:\n\n{mail.excerpt}\n\n"
        f"Read it and decide in the inbox (you will be asked to sign in):\n{mail.link}\n"
    )
    return item
