"""Every route of the server, in one place."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from signaling import openapi
from signaling.auth import COOKIE_NAME
from signaling.handlers import (
    admin_api,
    agent_socket,
    dashboard_api,
    fleet_api,
    health,
    history_api,
    kiosk_socket,
    quality_api,
    service_level_api,
    session_api,
    supervisor_api,
)
from signaling.protocol import ErrorCode, ProtocolError
from signaling.services import SERVICES


def console_dir() -> Path:
    return Path(str(resources.files("agent_console")))


async def console_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(console_dir() / "index.html")


async def admin_page(request: web.Request) -> web.FileResponse:
    """The administrators' page: refused (403) to anyone signed in with another role; without a session
    it offers sign-in. It holds no data itself: its API refuses everyone but administrators."""
    services = request.app[SERVICES]
    staff = await services.sessions.get(request.cookies.get(COOKIE_NAME))
    if staff is not None and staff.role != "admin":
        raise ProtocolError(ErrorCode.FORBIDDEN, "the administration page is for administrators only")
    # never cached: whether it is served depends on who asks
    return web.FileResponse(console_dir() / "admin.html", headers={"Cache-Control": "no-store"})


ONE_CALL = "/api/calls/{call_id:(?!live$)[^{}/]+}"
"""``/api/calls/<id>``, but not ``/api/calls/live`` (the live calls): ``DELETE /api/calls/live`` is refused
as a method that path does not have, not taken for a call named ``live``."""


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/openapi.json", openapi.openapi_json)
    app.router.add_post("/api/login", session_api.login)
    app.router.add_post("/api/logout", session_api.logout)
    app.router.add_get("/api/me", session_api.me)
    app.router.add_post("/api/logout-everywhere", session_api.logout_everywhere)
    app.router.add_get("/api/admin/users", admin_api.users_index)
    app.router.add_post("/api/admin/users", admin_api.users_add)
    app.router.add_post("/api/admin/users/{name}/role", admin_api.user_role)
    app.router.add_post("/api/admin/users/{name}/disable", admin_api.user_disable)
    app.router.add_post("/api/admin/users/{name}/enable", admin_api.user_enable)
    app.router.add_post("/api/admin/users/{name}/password", admin_api.user_password)
    app.router.add_post("/api/admin/users/{name}/logout-everywhere", admin_api.user_logout_everywhere)
    app.router.add_get("/api/admin/kiosks", admin_api.kiosks_index)
    app.router.add_post("/api/admin/kiosks", admin_api.kiosks_enroll)
    app.router.add_post("/api/admin/kiosks/{kiosk_id}/rotate", admin_api.kiosk_rotate)
    app.router.add_post("/api/admin/kiosks/{kiosk_id}/revoke", admin_api.kiosk_revoke)
    app.router.add_get("/api/calls", history_api.calls_index)
    app.router.add_get("/api/calls/live", quality_api.live_calls)
    app.router.add_get("/api/calls/{call_id}/timeline", quality_api.timeline)
    app.router.add_get(ONE_CALL, history_api.call_detail)
    app.router.add_delete(ONE_CALL, supervisor_api.remove_call)
    app.router.add_get("/api/queues", supervisor_api.queue_board)
    app.router.add_get("/api/fleet", fleet_api.fleet)
    app.router.add_get("/api/alerts", quality_api.alerts)
    app.router.add_get("/api/service-level", service_level_api.service_level)
    app.router.add_get("/api/dashboard/stream", dashboard_api.stream)
    app.router.add_post("/api/agents/{name}/state", supervisor_api.force_state)
    app.router.add_post("/api/agents/{name}/wrap-up/complete", supervisor_api.complete_wrap_up)
    app.router.add_get("/ws/kiosk", kiosk_socket.kiosk_socket)
    app.router.add_get("/ws/agent", agent_socket.agent_socket)
    app.router.add_get("/", console_index)
    app.router.add_get("/admin", admin_page)
    app.router.add_get("/dashboard", dashboard_api.dashboard_page)
    app.router.add_static("/static/", console_dir(), append_version=True, name="static")
