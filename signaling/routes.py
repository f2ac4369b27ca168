"""Every route of the server, in one place."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from signaling import openapi
from signaling.handlers import (
    agent_socket,
    health,
    history_api,
    kiosk_socket,
    session_api,
    supervisor_api,
)


def console_dir() -> Path:
    return Path(str(resources.files("agent_console")))


async def console_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(console_dir() / "index.html")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/openapi.json", openapi.openapi_json)
    app.router.add_post("/api/login", session_api.login)
    app.router.add_post("/api/logout", session_api.logout)
    app.router.add_get("/api/me", session_api.me)
    app.router.add_get("/api/calls", history_api.calls_index)
    app.router.add_get("/api/calls/{call_id}", history_api.call_detail)
    app.router.add_delete("/api/calls/{call_id}", supervisor_api.remove_call)
    app.router.add_get("/api/queues", supervisor_api.queue_board)
    app.router.add_post("/api/agents/{name}/state", supervisor_api.force_state)
    app.router.add_post("/api/agents/{name}/wrap-up/complete", supervisor_api.complete_wrap_up)
    app.router.add_get("/ws/kiosk", kiosk_socket.kiosk_socket)
    app.router.add_get("/ws/agent", agent_socket.agent_socket)
    app.router.add_get("/", console_index)
    app.router.add_static("/static/", console_dir(), append_version=True, name="static")
