"""The API's one Temporal client, connected at start-up and again on demand if Temporal was
not up yet, so that a missing server is a 503 that says so, never a 500."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.errors import ApiError
from crew_hitl.settings import Settings

log = logging.getLogger("crew_hitl.api")
CONNECT_TIMEOUT = 5.0


class TemporalConnection:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await self._connect()
        return self._client

    async def try_connect(self) -> None:
        try:
            await self.client()
        except ApiError as err:
            log.warning("%s; will try again on the next request", err.message)

    async def _connect(self) -> Client:
        address = self._settings.temporal_address
        try:
            return await asyncio.wait_for(
                Client.connect(
                    address,
                    namespace=self._settings.temporal_namespace,
                    data_converter=pydantic_data_converter,
                ),
                CONNECT_TIMEOUT,
            )
        except (RuntimeError, TimeoutError) as err:
            raise ApiError(
                503, f"Temporal at {address} does not answer: {err}", "temporal_unavailable"
            ) from None
