"""The webhook URL fields of a kickoff or resume body: checked against the guard (a refused URL
is refused naming its field), then sealed before they go into the workflow."""

from __future__ import annotations

from api.webhook_guard import WebhookGuard
from crew_hitl.contracts.history import URL_FIELDS, WebhookTargets
from crew_hitl.contracts.http import KickoffRequest, WebhookUrls
from crew_hitl.secrets import SecretBox
from crew_hitl.targets import sealed_target


def seal_webhooks(box: SecretBox, body: WebhookUrls) -> WebhookTargets:
    targets = {
        URL_FIELDS[name]: sealed_target(box, url) for name, url in body.webhook_urls().items()
    }
    return WebhookTargets(**targets)


async def check_webhook_urls(guard: WebhookGuard, body: WebhookUrls) -> None:
    urls = body.webhook_urls()
    if isinstance(body, KickoffRequest) and body.humanInputWebhook is not None:
        urls["humanInputWebhook.url"] = str(body.humanInputWebhook.url)
    if isinstance(body, KickoffRequest) and body.webhooks is not None:
        urls["webhooks.url"] = str(body.webhooks.url)
    for field, url in urls.items():
        await guard.check(field, url)
