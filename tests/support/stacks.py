"""Helpers around the stacks the fixtures start: the crews they serve, the worker's import path,
API clients, and an extra API process beside a running stack."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.stack import Stack, free_port
from support.constants import ROOT, TESTS, TOKEN
from support.reviewers import api_client


def crews_dir(tmp: Path) -> Path:
    """The project's crews and the tests' own (tests/crews/), copied under `tmp`."""
    target = tmp / "crews"
    shutil.copytree(ROOT / "crews", target)
    for crew in (TESTS / "crews").iterdir():
        shutil.copytree(crew, target / crew.name)
    return target


def let_workers_import_test_functions() -> None:
    """The worker imports the python executor's test functions (tests/crew_functions.py)."""
    tests_dir = str(TESTS)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if tests_dir not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (tests_dir, *paths) if p)


def client_for(stack: Stack, timeout: float = 30) -> httpx.Client:
    return api_client(stack, TOKEN, timeout)


def extra_api(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory, **changes
) -> Iterator[httpx.Client]:
    """Another API process on the stack's settings with `changes`; `yield from` it in a fixture."""
    settings = stack.settings.model_copy(update={"api_port": free_port(), **changes})
    extra = Stack(settings, log_dir=tmp_path_factory.mktemp("extra-api"))
    extra.start_api()
    try:
        with httpx.Client(
            base_url=settings.api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20
        ) as client:
            yield client
    finally:
        extra.stop()
