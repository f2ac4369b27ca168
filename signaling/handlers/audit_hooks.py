"""What the HTTP and WebSocket handlers need to write audit entries: who asked, and from where."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from signaling.auth import StaffSession
from signaling.protocol import ErrorCode, ProtocolError
from signaling.services import SERVICES
from signaling.store.audit import AuditAction, Outcome

SOURCE_MAX = 64


def source_of(request: web.Request) -> str:
    """The client's address as the server sees it (the proxy's, behind one that does not pass it on)."""
    return (request.remote or "")[:SOURCE_MAX]


async def audit_request(
    request: web.Request,
    *,
    actor: str,
    role: str,
    action: AuditAction,
    target: str = "",
    outcome: Outcome = Outcome.OK,
    details: Mapping[str, Any] | None = None,
    required: bool = False,
) -> bool:
    """Record an action taken through HTTP, from the request's client address (see ``AuditLog.record``)."""
    return await request.app[SERVICES].audit.record(
        actor=actor,
        role=role,
        action=action,
        target=target,
        outcome=outcome,
        source=source_of(request),
        details=details,
        required=required,
    )


async def audit_staff(
    request: web.Request,
    staff: StaffSession,
    action: AuditAction,
    target: str,
    outcome: Outcome = Outcome.OK,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record what a signed-in staff member did. After the action: it stands even when its entry cannot be
    written (that failure is logged and counted)."""
    await audit_request(
        request, actor=staff.username, role=staff.role, action=action, target=target, outcome=outcome,
        details=details,
    )  # fmt: skip


async def refuse_unless(
    request: web.Request,
    staff: StaffSession,
    roles: tuple[str, ...],
    attempt: tuple[AuditAction, str],
    refusal: str,
) -> StaffSession:
    """``staff`` when their role is one of ``roles``; otherwise the attempt (action, target) is audited as
    denied and refused (403, ``forbidden``)."""
    if staff.role not in roles:
        action, target = attempt
        await audit_staff(request, staff, action, target, Outcome.DENIED, {"reason": "role"})
        raise ProtocolError(ErrorCode.FORBIDDEN, refusal)
    return staff
