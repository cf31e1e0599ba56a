"""The crew a request names, from the crews the API loaded at start-up."""

from __future__ import annotations

from api.failures import NotFound
from crew_hitl.spec import CrewRegistry, CrewSpec


def crew_named(registry: CrewRegistry, name: str) -> CrewSpec:
    if name in registry.errors:
        raise NotFound(f"crew {name!r} could not be loaded: {registry.errors[name]}")
    if name not in registry.crews:
        known = ", ".join(sorted(registry.crews)) or "none"
        raise NotFound(f"no crew named {name!r} (known: {known})")
    return registry.crews[name]
