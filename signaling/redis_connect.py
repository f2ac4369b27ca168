"""The one place the project turns a Redis URL into a client (``redis.asyncio``).

URLs it takes:

- ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``, ``rediss://…`` (TLS) and
  ``unix://[[USER]:PASSWORD@]/PATH/TO/SOCKET[?db=DB]``, read as redis-py reads them (query options such as
  ``?socket_timeout=5`` included).
- ``redis+sentinel://[[USER]:PASSWORD@]HOST1[:PORT1][,HOST2[:PORT2]…]/MASTER_NAME[/DB]``: Redis Sentinel. The
  hosts are sentinels (port 26379 when left out; an IPv6 address in brackets), MASTER_NAME is the name they
  monitor, DB the database (0 when left out). USER and PASSWORD are the master's (and its replicas'); the
  sentinels themselves are asked without credentials. Percent-encode ``@ : / ,`` inside USER, PASSWORD or
  MASTER_NAME. Example: ``redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/kiosk-assist/0``.

Every new connection to a Sentinel-managed master first asks the sentinels where the master is, so after a
failover the next connection (a reconnecting pub/sub subscription included) goes to the new master;
connections to the old one fail and are replaced as they are used.

Every client has a blocking pool of ``MAX_CONNECTIONS``: a burst of commands waits up to ``POOL_TIMEOUT_S``
for a free connection instead of failing at once. For Sentinel that is redis-py's ``SentinelConnectionPool``
combined with its ``BlockingConnectionPool`` (redis-py offers no blocking Sentinel pool of its own).

Messages name what a URL points at (``describe``), never its credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig

SENTINEL_SCHEME = "redis+sentinel"
PLAIN_SCHEMES = ("redis", "rediss", "unix")
DEFAULT_SENTINEL_PORT = 26379

MAX_CONNECTIONS = 256
POOL_TIMEOUT_S = 10.0
"""How long a command waits for a free connection when all ``MAX_CONNECTIONS`` are busy."""
HEALTH_CHECK_INTERVAL_S = 10
SENTINEL_TIMEOUT_S = 2.0
"""Connect and read timeout towards a sentinel: one that does not answer must not stall finding the master."""

_POOL_OPTIONS: dict[str, Any] = {
    "max_connections": MAX_CONNECTIONS,
    "timeout": POOL_TIMEOUT_S,
    "health_check_interval": HEALTH_CHECK_INTERVAL_S,
    "socket_keepalive": True,
    # redis-py 8 turns maintenance notifications on ("auto") for TCP pools, and then hands out a pooled
    # connection the server has closed without noticing (the next command fails with "Connection closed by
    # server", redis-py #4128): after a Redis restart or failover every idle connection would fail once
    "maint_notifications_config": MaintNotificationsConfig(enabled=False),
}


class RedisURLError(ValueError):
    """A Redis URL that cannot be used; the message says why, with the URL's password masked."""


@dataclass(frozen=True)
class SentinelURL:
    """A parsed ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def redis_from_url(url: str) -> Redis:
    """A client for ``url`` (see the module's docstring); it connects on first use, and ``aclose()`` closes
    its pool (and, for Sentinel, its connections to the sentinels). Raises ``RedisURLError``."""
    scheme = _scheme(url)
    if scheme == SENTINEL_SCHEME:
        return _sentinel_client(parse_sentinel_url(url))
    if scheme not in PLAIN_SCHEMES:
        raise RedisURLError(
            f"bad Redis URL {masked(url)}: the scheme must be redis://, rediss://, unix:// or "
            f"{SENTINEL_SCHEME}://"
        )
    _check_plain(url)
    try:
        pool = BlockingConnectionPool.from_url(url, **_POOL_OPTIONS)
    except ValueError as exc:  # a port or query option redis-py cannot read
        raise RedisURLError(f"bad Redis URL {masked(url)}: {exc}") from None
    return Redis.from_pool(pool)


def parse_sentinel_url(url: str) -> SentinelURL:
    """``redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]/MASTER_NAME[/DB]``; raises
    ``RedisURLError`` naming what is wrong."""
    if _scheme(url) != SENTINEL_SCHEME:
        raise RedisURLError(f"bad Redis URL {masked(url)}: not a {SENTINEL_SCHEME}:// URL")
    rest = url.split("://", 1)[1]
    if "?" in rest or "#" in rest:
        raise RedisURLError(f"bad Redis URL {masked(url)}: {SENTINEL_SCHEME}:// URLs take no query options")
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    master_name, db = _master_and_db(url, path)
    return SentinelURL(
        sentinels=tuple(_sentinel_address(url, part) for part in hosts.split(",")),
        master_name=master_name,
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def describe(url: str) -> str:
    """What ``url`` points at, for messages: ``host:port``, a socket path, or a master and its sentinels —
    never credentials."""
    scheme = _scheme(url)
    try:
        if scheme == SENTINEL_SCHEME:
            target = parse_sentinel_url(url)
            sentinels = ",".join(_host_port(host, port) for host, port in target.sentinels)
            return f"master {target.master_name!r} via sentinels {sentinels}"
        parts = urlsplit(url)
        if scheme == "unix":
            return f"unix:{parts.path}"
        return _host_port(parts.hostname or "localhost", parts.port or 6379)
    except ValueError:
        return f"a bad {scheme}:// URL"


def masked(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` option) as ``***``."""
    url = _PASSWORD_OPTION.sub(r"\1***", url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    netloc, slash, path = rest.partition("/")
    if "@" not in netloc:
        return url
    userinfo, _, hosts = netloc.rpartition("@")
    user = f"{userinfo.partition(':')[0]}:" if ":" in userinfo else ""  # no colon: it may be a password
    return f"{scheme}{sep}{user}***@{hosts}{slash}{path}"


_PASSWORD_OPTION = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's master discovery on every new connection, with a blocking pool's wait for a free one.
    Owns its ``Sentinel``: closing the pool closes the connections to the sentinels too (redis-py's
    ``master_for`` client leaves them open)."""

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


def _sentinel_client(target: SentinelURL) -> Redis:
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs={
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
            "socket_timeout": SENTINEL_TIMEOUT_S,
            "socket_keepalive": True,
            # no retries with backoff against one sentinel: the next sentinel is asked instead
            "retry": Retry(NoBackoff(), 0),
            # each new master connection asks once at a time, so this many never run short
            "max_connections": MAX_CONNECTIONS,
        },
    )
    client: Redis = sentinel.master_for(
        target.master_name,
        connection_pool_class=_BlockingSentinelPool,
        db=target.db,
        username=target.username,
        password=target.password,
        **_POOL_OPTIONS,
    )
    return client


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def _check_plain(url: str) -> None:
    """What redis-py would let pass silently: a socket URL without a path, a database that is no number."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        if not parts.path:
            raise RedisURLError(f"bad Redis URL {masked(url)}: no socket path (unix:///path/to/redis.sock)")
        return
    db = unquote(parts.path).strip("/")
    if db and not db.isdigit():
        raise RedisURLError(f"bad Redis URL {masked(url)}: the database {db!r} is not a number")


def _master_and_db(url: str, path: str) -> tuple[str, int]:
    segments = path.strip("/").split("/") if path.strip("/") else []
    if not segments:
        raise RedisURLError(
            f"bad Redis URL {masked(url)}: no master name "
            f"({SENTINEL_SCHEME}://HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB])"
        )
    if len(segments) > 2:
        raise RedisURLError(f"bad Redis URL {masked(url)}: the path must be /MASTER_NAME or /MASTER_NAME/DB")
    db = segments[1] if len(segments) == 2 else "0"
    if not db.isdigit():
        raise RedisURLError(f"bad Redis URL {masked(url)}: the database {db!r} is not a number")
    return unquote(segments[0]), int(db)


_ADDRESS = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>[^:]*))?$")


def _sentinel_address(url: str, part: str) -> tuple[str, int]:
    if not part:
        raise RedisURLError(
            f"bad Redis URL {masked(url)}: an empty sentinel address (list them as HOST:PORT,HOST:PORT)"
        )
    match = _ADDRESS.match(part)
    if match is None:
        raise RedisURLError(f"bad Redis URL {masked(url)}: cannot read the sentinel address {part!r}")
    port = match["port"]
    if port is None:
        return match["ipv6"] or match["host"], DEFAULT_SENTINEL_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RedisURLError(f"bad Redis URL {masked(url)}: the sentinel port {port!r} is not a port number")
    return match["ipv6"] or match["host"], int(port)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
