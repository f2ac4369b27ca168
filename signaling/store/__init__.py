"""The durable store: staff accounts, enrolled kiosks and call history in SQL (SQLite or PostgreSQL).

Live state stays in Redis; this package keeps what must survive it. Everything here is async.
"""

from signaling.store.database import Database
from signaling.store.errors import (
    AlreadyExists,
    InvalidEvent,
    InvalidValue,
    NotFound,
    StoreError,
    WrongState,
)
from signaling.store.history import (
    CallEventRecord,
    CallRecord,
    CallSummary,
    RoutingEvent,
    apply_events,
    get_call,
    list_calls,
)
from signaling.store.kiosks import (
    credential_states,
    enroll_kiosk,
    get_kiosk,
    list_kiosks,
    revoke_kiosk,
    rotate_kiosk,
    secret_digest,
    verify_kiosk,
)
from signaling.store.models import Call, CallEvent, Kiosk, Role, User
from signaling.store.schema import migrate
from signaling.store.users import (
    add_user,
    authenticate,
    end_sessions,
    get_user,
    list_users,
    session_generations,
    set_disabled,
    set_password,
    set_role,
)

__all__ = [
    "AlreadyExists",
    "Call",
    "CallEvent",
    "CallEventRecord",
    "CallRecord",
    "CallSummary",
    "Database",
    "InvalidEvent",
    "InvalidValue",
    "Kiosk",
    "NotFound",
    "Role",
    "RoutingEvent",
    "StoreError",
    "User",
    "WrongState",
    "add_user",
    "apply_events",
    "authenticate",
    "credential_states",
    "end_sessions",
    "enroll_kiosk",
    "get_call",
    "get_kiosk",
    "get_user",
    "list_calls",
    "list_kiosks",
    "list_users",
    "migrate",
    "revoke_kiosk",
    "rotate_kiosk",
    "secret_digest",
    "session_generations",
    "set_disabled",
    "set_password",
    "set_role",
    "verify_kiosk",
]
