"""The reviewer's inbox: server-rendered pages under /ui where a signed-in reviewer sees the
runs waiting for a decision and decides them, and where their leads see the queue in charts.
The app mounts it with one line: `app.include_router(inbox.router)`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from inbox import leads, runs, sign_in

STATIC = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)
router.include_router(runs.router, prefix="/ui")
router.include_router(leads.router, prefix="/ui")
router.include_router(sign_in.router, prefix="/ui")


@router.get("/ui/static/inbox.css")
async def stylesheet() -> FileResponse:
    return FileResponse(STATIC / "inbox.css", media_type="text/css")
