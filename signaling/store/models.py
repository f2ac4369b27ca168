"""Declarative models of the durable facts: staff accounts, enrolled kiosks, calls and their events.

``migrations/versions`` holds the DDL that creates these tables; a test compares the two.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from signaling.store.columns import JSON_TYPE, UtcDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Role(enum.StrEnum):
    """What a staff account may do."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    IT = "it"
    """IT staff: read the dashboard, the kiosk fleet and the monitoring APIs; take no calls."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON_TYPE, list[str]: JSON_TYPE}


class User(Base):
    """A staff account (agent, supervisor, admin or IT) that signs in to the console."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('agent', 'supervisor', 'admin', 'it')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    skills: Mapped[list[str]] = mapped_column(default=list)
    languages: Mapped[list[str]] = mapped_column(default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(default=False)
    proficiency: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    """Per skill, 1 (learning) to 5 (expert); routing counts a skill without a level as 3."""
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    """Sessions carry the generation they were made in; raising it ends them all (sign out everywhere,
    disable, a new role or password)."""


class Kiosk(Base):
    """An enrolled kiosk; only a hash of its secret is kept."""

    __tablename__ = "kiosks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the secret was last replaced (None: the one given at enrolment)."""


class Call(Base):
    """One request for help, summarised from its events (``CallEvent``).

    ``kiosk_id`` and ``agent`` are not foreign keys on purpose: history records what happened and must
    accept every event, even for a kiosk or account that this database does not (or no longer) know.
    """

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(64), default="")
    language: Mapped[str] = mapped_column(String(16), default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    agent: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(index=True)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    offered_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    wrapped_up_at: Mapped[datetime | None] = mapped_column(default=None)
    disposition: Mapped[str | None] = mapped_column(String(64), default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)


class CallEvent(Base):
    """One state change of a call, keyed by the Redis stream id that produced it (for idempotency)."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    call_id: Mapped[str] = mapped_column(String(64), ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    agent: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditEntryRow(Base):
    """One entry of the hash-chained audit log (see ``signaling/store/audit.py``); never updated.

    ``seq`` is given by the chain (the previous entry's plus one, under the chain's lock), not by the
    database, so a deleted entry leaves a gap that verification names. ``details`` is canonical JSON text,
    kept byte for byte as hashed.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """Where verification starts after pruning: the number and hash of the last entry removed (one row)."""

    __tablename__ = "audit_anchor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class AlertRow(Base):
    """An alert raised for IT (a call whose quality stays poor, a kiosk offline…): kept when raised,
    updated when cleared. The open ones live in Redis (see ``signaling/alerts.py``)."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    call_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    kiosk_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    raised_at: Mapped[datetime] = mapped_column(index=True)
    cleared_at: Mapped[datetime | None] = mapped_column(default=None)


class CallQualityRow(Base):
    """A call's quality, aggregated from the stats samples its parties reported (stored when it ends).

    ``call_id`` is not a foreign key: the call's row is written by the history writer, maybe later.
    """

    __tablename__ = "call_quality"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    mos_mean: Mapped[float | None] = mapped_column(Float, default=None)
    mos_min: Mapped[float | None] = mapped_column(Float, default=None)
    video_mean: Mapped[float | None] = mapped_column(Float, default=None)
    video_min: Mapped[float | None] = mapped_column(Float, default=None)
    rtt_mean_ms: Mapped[float | None] = mapped_column(Float, default=None)
    loss_max_pct: Mapped[float | None] = mapped_column(Float, default=None)
    candidate_types: Mapped[list[str]] = mapped_column(default=list)
    first_at: Mapped[datetime | None] = mapped_column(default=None)
    last_at: Mapped[datetime | None] = mapped_column(default=None)
