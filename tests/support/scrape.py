"""Reading a /metrics endpoint as Prometheus would, and waiting for a value to move."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Samples:
    """Every sample of one scrape: (sample name, labels) -> value."""

    values: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of this name whose labels include these (0 if none)."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.values.items() if n == name and wanted <= ls)

    def labels_of(self, name: str) -> list[dict[str, str]]:
        return [dict(ls) for n, ls in self.values if n == name]

    def names(self) -> set[str]:
        return {name for name, _ in self.values}


def scrape(url: str, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    values = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return Samples(values)


def wait_for_metric(
    url: str, until: Callable[[Samples], bool], timeout: float = 15, token: str | None = None
) -> Samples:
    """Scrape until `until` holds (the API's gauge is cached for a few seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url, token)
        if until(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"the metrics at {url} never matched within {timeout}s")
        time.sleep(0.25)
