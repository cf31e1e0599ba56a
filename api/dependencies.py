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
from api.metrics import ApiMetrics
from api.webhook_guard import WebhookGuard
from crew_hitl.secrets import SecretBox, load_or_create_key
from crew_hitl.settings import Settings
from crew_hitl.spec import CrewRegistry
from crew_hitl.tracing import Tracing
from inbox.finished_runs import FinishedRuns
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
    metrics: ApiMetrics
    sign_in_throttle: SignInThrottle = field(default_factory=SignInThrottle)
    # The decisions of finished runs, for the leads' page.
    finished_runs: FinishedRuns = field(default_factory=FinishedRuns)
    tracing: Tracing | None = None

    @classmethod
    def from_settings(cls, settings: Settings, tracing: Tracing | None = None) -> Services:
        gateway = TemporalGateway(settings, tracing)
        crews = CrewRegistry.load(settings.crews_dir)
        return cls(
            settings=settings,
            gateway=gateway,
            crews=crews,
            box=SecretBox(load_or_create_key(settings.secret_key, settings.data_dir)),
            guard=WebhookGuard(settings.webhook_policy()),
            revocations=Revocations(settings.data_dir),
            followers=Followers(gateway),
            metrics=ApiMetrics.create(gateway, crews),
            tracing=tracing,
        )


# The dependencies are `async def` although none of them awaits: FastAPI runs a plain `def`
# dependency in its thread pool, and the hops to and from it were the API's largest cost per
# request under load (py-spy, bench/profile.py: 64 % of the API's samples in the pool's
# threads).


def services_of(request: Request) -> Services:
    return request.app.state.services


async def services(request: Request) -> Services:
    return services_of(request)


async def settings_of(request: Request) -> Settings:
    return services_of(request).settings


async def gateway_of(request: Request) -> TemporalGateway:
    return services_of(request).gateway


async def crews_of(request: Request) -> CrewRegistry:
    return services_of(request).crews


async def box_of(request: Request) -> SecretBox:
    return services_of(request).box


async def revocations_of(request: Request) -> Revocations:
    return services_of(request).revocations


async def throttle_of(request: Request) -> SignInThrottle:
    return services_of(request).sign_in_throttle


async def require_token(request: Request) -> str:
    """The caller's reviewer name, or NotSignedIn (401)."""
    header = request.headers.get("authorization", "")
    reviewer = bearer_reviewer(services_of(request).settings, header)
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
