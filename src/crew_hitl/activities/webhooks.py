"""The deliver_webhook activity: one POST of one event, with the outcome telling Temporal
whether a retry is worth it.

aiohttp rather than httpx here: a delivery is the hottest I/O of a run, and aiohttp spent
about a ninth of httpx's CPU per POST on this machine (0.15 ms against 1.36 ms)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import aiohttp
from temporalio import activity
from temporalio.exceptions import ApplicationError

from crew_hitl.crew.messages import DeliverWebhookInput, DeliveryResult, WebhookTarget
from crew_hitl.crew.secrets import SealError, SecretBox

RETRYABLE_4XX = {408, 425, 429}
USER_AGENT = "crew-hitl-webhooks/0.1"
MAX_RESPONSE_BYTES = 64 * 1024


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class WebhookActivities:
    def __init__(self, box: SecretBox, session: aiohttp.ClientSession) -> None:
        self._box = box
        self._session = session

    def _resolve(self, target: WebhookTarget) -> tuple[str, dict[str, str]]:
        if target.sealed is None:
            return target.url, {}
        try:
            opened = self._box.open(target.sealed)
        except SealError as err:
            raise ApplicationError(str(err), type="SealError", non_retryable=True) from err
        return str(opened["url"]), dict(opened.get("headers") or {})  # type: ignore[arg-type]

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, delivery: DeliverWebhookInput) -> DeliveryResult:
        url, headers = self._resolve(delivery.target)
        headers |= {"webhook-id": delivery.webhook_id, "user-agent": USER_AGENT}
        attempt = activity.info().attempt
        timeout = aiohttp.ClientTimeout(total=delivery.timeout_seconds)
        try:
            async with self._session.post(
                url, json=delivery.body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                code = response.status
                retry_after = response.headers.get("retry-after")
                await response.content.read(MAX_RESPONSE_BYTES)  # lets the connection be reused
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ApplicationError(
                f"{delivery.event} to {delivery.target.url}: {type(err).__name__}",
                type="WebhookUnreachable",
            ) from None
        if 200 <= code < 300:
            activity.logger.info(
                "delivered %s to %s (HTTP %d, attempt %d)",
                delivery.event,
                delivery.target.url,
                code,
                attempt,
            )
            return DeliveryResult(status_code=code, attempts=attempt)
        message = f"{delivery.event} to {delivery.target.url}: HTTP {code}"
        if 400 <= code < 500 and code not in RETRYABLE_4XX:
            raise ApplicationError(message, type="WebhookRejected", non_retryable=True)
        delay = retry_after_seconds(retry_after) if code in (429, 503) else None
        raise ApplicationError(
            message,
            type="WebhookFailed",
            next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
        )
