"""Column types shared by the models: UTC timestamps with millisecond precision, and JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# PostgreSQL keeps `jsonb`; SQLite keeps JSON text.
JSON_TYPE: TypeEngine[Any] = JSON().with_variant(postgresql.JSONB(), "postgresql")


def to_utc_ms(value: datetime) -> datetime:
    """``value`` in UTC, cut to whole milliseconds; naive datetimes are refused, never guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend, stored with millisecond precision.

    SQLite has no time zone type: values are stored as naive UTC text (which sorts in time order) and
    come back tagged as UTC, so both backends hand out equal, comparable values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True, precision=3))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = to_utc_ms(value)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, UTC, to the millisecond (what the database will keep)."""
    return to_utc_ms(datetime.now(UTC))
