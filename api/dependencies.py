"""What a route needs, as FastAPI dependencies: the process's one Temporal gateway, the
settings, the crews, the secret box, the webhook guard, the tracing (None when off), and the
caller a token names. The app
builds one Services at start-up; routes and the inbox ask for parts of it by type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from api.auth import bearer_reviewer
from api.failures import NotSignedIn
from api.followers import Followers
from api.gateway import TemporalGateway
from api.webhook_guard import WebhookGuard
from crew_hitl.secrets import SecretBox, load_or_create_key
from crew_hitl.settings import Settings
from crew_hitl.spec import CrewRegistry
from crew_hitl.tracing import Tracing
from inbox.revocations import Revocations
from inbox.throttle import SignInThrottle


@dataclass
class Services:
    settings: Settings
    gateway: TemporalGateway
    crews: CrewRegistry
    box: SecretBox
    guard: WebhookGuard
    revocations: Revocations
    followers: Followers
    sign_in_throttle: SignInThrottle = field(default_factory=SignInThrottle)
    tracing: Tracing | None = None

    @classmethod
    def from_settings(cls, settings: Settings, tracing: Tracing | None = None) -> Services:
        gateway = TemporalGateway(settings, tracing)
        return cls(
            settings=settings,
            gateway=gateway,
            crews=CrewRegistry.load(settings.crews_dir),
            box=SecretBox(load_or_create_key(settings.secret_key, settings.data_dir)),
            guard=WebhookGuard(settings.webhook_policy()),
            revocations=Revocations(settings.data_dir),
            followers=Followers(gateway),
            tracing=tracing,
        )


def services(request: Request) -> Services:
    return request.app.state.services


def settings_of(request: Request) -> Settings:
    return services(request).settings


def gateway_of(request: Request) -> TemporalGateway:
    return services(request).gateway


def crews_of(request: Request) -> CrewRegistry:
    return services(request).crews


def box_of(request: Request) -> SecretBox:
    return services(request).box


def revocations_of(request: Request) -> Revocations:
    return services(request).revocations


def throttle_of(request: Request) -> SignInThrottle:
    return services(request).sign_in_throttle


def require_token(request: Request) -> str:
    """The caller's reviewer name, or NotSignedIn (401)."""
    header = request.headers.get("authorization", "")
    reviewer = bearer_reviewer(settings_of(request), header)
    if reviewer is None:
        raise NotSignedIn("a valid 'Authorization: Bearer <token>' header is required")
    return reviewer


AppSettings = Annotated[Settings, Depends(settings_of)]
Gateway = Annotated[TemporalGateway, Depends(gateway_of)]
Crews = Annotated[CrewRegistry, Depends(crews_of)]
Box = Annotated[SecretBox, Depends(box_of)]
Throttle = Annotated[SignInThrottle, Depends(throttle_of)]
SignedOut = Annotated[Revocations, Depends(revocations_of)]
Caller = Annotated[str, Depends(require_token)]
ServicesDep = Annotated[Services, Depends(services)]
