"""The webhook URL fields of a kickoff or resume body: checked against the guard (a refused URL
is a 422 naming its field), then sealed before they go into the workflow."""

from __future__ import annotations

from fastapi import Request

from api.webhook_guard import WebhookGuard
from crew_hitl.contracts.history import WebhookTarget, WebhookTargets
from crew_hitl.contracts.http import KickoffRequest, WebhookUrls
from crew_hitl.secrets import SecretBox
from crew_hitl.targets import sealed_target


def seal_webhooks(box: SecretBox, body: WebhookUrls) -> WebhookTargets:
    def seal(url: object | None) -> WebhookTarget | None:
        return sealed_target(box, str(url)) if url is not None else None

    return WebhookTargets(
        task=seal(body.taskWebhookUrl),
        step=seal(body.stepWebhookUrl),
        crew=seal(body.crewWebhookUrl),
    )


async def check_webhook_urls(request: Request, body: WebhookUrls) -> None:
    guard: WebhookGuard = request.app.state.guard
    urls = {
        "taskWebhookUrl": body.taskWebhookUrl,
        "stepWebhookUrl": body.stepWebhookUrl,
        "crewWebhookUrl": body.crewWebhookUrl,
    }
    if isinstance(body, KickoffRequest) and body.humanInputWebhook is not None:
        urls["humanInputWebhook.url"] = body.humanInputWebhook.url
    for field, url in urls.items():
        if url is not None:
            await guard.check(field, str(url))
