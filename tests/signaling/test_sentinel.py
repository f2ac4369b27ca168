"""Redis Sentinel: a ``redis+sentinel://`` URL names a master through its sentinels, and servers carry on
through a real failover (the master killed, its replica promoted) without being restarted."""

from __future__ import annotations

import asyncio
import logging
import shutil
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pytest

from signaling.embedded_redis import EmbeddedRedis, EmbeddedSentinel, redis_server_binary
from signaling.errors import StartupError
from signaling.protocol import (
    Accept,
    AgentJoined,
    AgentStateChanged,
    CallAccepted,
    HelpRequest,
    Offer,
    Queued,
    SetState,
)
from signaling.redis_connect import (
    MAX_CONNECTIONS,
    RedisURLError,
    SentinelURL,
    describe,
    masked,
    parse_sentinel_url,
    redis_from_url,
)
from signaling.settings import Settings
from tests.support import (
    RunningServer,
    ServerProcess,
    cli_env,
    connect_agent,
    connect_kiosk,
    free_port,
    run_cli,
    running_server,
    wait_until,
)

PASSWORD = "pw-n0t-in-l0gs"
MASTER = "ka-master"

# ---------------------------------------------------------------------------------------------- URLs


def test_a_sentinel_url_names_the_sentinels_the_master_the_database_and_the_masters_credentials() -> None:
    url = f"redis+sentinel://app:{PASSWORD}%40x@10.0.0.1:26380,sentinel-b,[::1]:26381/{MASTER}/3"
    assert parse_sentinel_url(url) == SentinelURL(
        sentinels=(("10.0.0.1", 26380), ("sentinel-b", 26379), ("::1", 26381)),
        master_name=MASTER,
        db=3,
        username="app",
        password=f"{PASSWORD}@x",
    )
    assert parse_sentinel_url("redis+sentinel://h:1/m") == SentinelURL((("h", 1),), "m")
    assert PASSWORD not in repr(parse_sentinel_url(url))


def test_messages_say_where_redis_is_without_the_password() -> None:
    url = f"redis+sentinel://:{PASSWORD}@10.0.0.1:26380,10.0.0.2:26380/{MASTER}"
    assert describe(url) == f"master '{MASTER}' via sentinels 10.0.0.1:26380,10.0.0.2:26380"
    assert masked(url) == f"redis+sentinel://:***@10.0.0.1:26380,10.0.0.2:26380/{MASTER}"
    assert describe(f"redis://:{PASSWORD}@db.example:6380/2") == "db.example:6380"
    assert (
        masked(f"unix:///run/redis.sock?db=1&password={PASSWORD}")
        == "unix:///run/redis.sock?db=1&password=***"
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"redis+sentinel://:{PASSWORD}@h1:26379", "no master name"),
        (f"redis+sentinel://:{PASSWORD}@/{MASTER}", "an empty sentinel address"),
        (f"redis+sentinel://:{PASSWORD}@h1:26379,,h2:26379/{MASTER}", "an empty sentinel address"),
        (f"redis+sentinel://:{PASSWORD}@h1:sentinel/{MASTER}", "the sentinel port 'sentinel' is not a port"),
        (f"redis+sentinel://:{PASSWORD}@h1:70000/{MASTER}", "the sentinel port '70000' is not a port"),
        (f"redis+sentinel://:{PASSWORD}@[::1/{MASTER}", "cannot read the sentinel address"),
        (f"redis+sentinel://:{PASSWORD}@h1/{MASTER}/zero", "the database 'zero' is not a number"),
        (f"redis+sentinel://:{PASSWORD}@h1/{MASTER}/0/1", "the path must be /MASTER_NAME or /MASTER_NAME/DB"),
        (f"redis+sentinel://:{PASSWORD}@h1/{MASTER}?ssl=true", "take no query options"),
        (f"sentinel://:{PASSWORD}@h1/{MASTER}", "the scheme must be redis://, rediss://, unix://"),
        (f"{PASSWORD}@localhost:6379", "the scheme must be"),
        (f"redis://:{PASSWORD}@localhost:port/0", "Port could not be cast to integer"),
        (f"redis://:{PASSWORD}@localhost/zero", "the database 'zero' is not a number"),
        (f"redis://:{PASSWORD}@localhost/0?socket_timeout=soon", "Invalid value for 'socket_timeout'"),
        ("unix://", "no socket path"),
    ],
)
def test_a_bad_url_is_refused_with_a_reason_and_without_its_password(url: str, says: str) -> None:
    with pytest.raises(RedisURLError, match=r"^bad Redis URL ") as refused:
        redis_from_url(url)
    assert says in str(refused.value)
    assert PASSWORD not in str(refused.value)
    shown = "".join(traceback.format_exception(refused.value))
    assert "During handling" not in shown  # no redis-py error chained on
    assert "direct cause" not in shown


async def test_a_server_given_a_bad_url_or_unreachable_sentinels_does_not_start_and_says_why(
    settings: Settings,
) -> None:
    with pytest.raises(StartupError, match="the database 'zero' is not a number") as refused:
        async with running_server(replace(settings, redis_url=f"redis+sentinel://:{PASSWORD}@h1/m/zero")):
            pass
    assert PASSWORD not in str(refused.value)
    nobody = f"127.0.0.1:{free_port()}"
    with pytest.raises(StartupError, match=f"cannot reach Redis \\(master 'm' via sentinels {nobody}\\)"):
        async with running_server(replace(settings, redis_url=f"redis+sentinel://:{PASSWORD}@{nobody}/m")):
            pass


@pytest.mark.parametrize("command", ["serve", "history"])
async def test_the_command_line_prints_a_bad_url_s_reason_not_a_traceback(
    command: str, tmp_path: Path
) -> None:
    url = f"redis+sentinel://:{PASSWORD}@127.0.0.1:26379"
    code, _, err = await run_cli(command, "--redis-url", url, "--data-dir", str(tmp_path))
    assert code == 1
    assert err.strip().splitlines() == [
        "kiosk-assist: bad Redis URL redis+sentinel://:***@127.0.0.1:26379: no master name "
        "(redis+sentinel://HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB])"
    ]


# ----------------------------------------------------------------------------------------- failover


@dataclass
class SentinelSet:
    master: EmbeddedRedis
    replica: EmbeddedRedis
    sentinel: EmbeddedSentinel

    @property
    def url(self) -> str:
        return f"redis+sentinel://:{PASSWORD}@127.0.0.1:{self.sentinel.port}/{MASTER}/0"


async def _replica_in_sync(master: EmbeddedRedis) -> None:
    client = redis_from_url(master.url)
    try:
        assert await client.wait(1, 10_000) == 1, "the replica never caught up with the master"
    finally:
        await client.aclose()


async def _sentinel_knows_the_replica(sentinel: EmbeddedSentinel) -> bool:
    client = redis_from_url(sentinel.url)
    try:
        replicas = await client.sentinel_slaves(MASTER)
    finally:
        await client.aclose()
    return any(not r["is_sdown"] and r.get("master-link-status") == "ok" for r in replicas)


@pytest.fixture
async def sentinel_set(tmp_path: Path) -> AsyncIterator[SentinelSet]:
    """A master, its replica and one sentinel (quorum 1, quick to judge and fail over), on loopback."""
    binary = shutil.which("redis-server") or redis_server_binary()
    master = await EmbeddedRedis.start(tmp_path / "master", password=PASSWORD, binary=binary)
    servers: list[EmbeddedRedis | EmbeddedSentinel] = [master]
    try:
        replica = await EmbeddedRedis.start(
            tmp_path / "replica", replica_of=("127.0.0.1", master.port), password=PASSWORD, binary=binary
        )
        servers.append(replica)
        await _replica_in_sync(master)  # so the sentinel finds it in its first look at the master
        sentinel = await EmbeddedSentinel.start(
            tmp_path / "sentinel",
            ("127.0.0.1", master.port),
            master_name=MASTER,
            password=PASSWORD,
            down_after_ms=400,
            failover_timeout_ms=3_000,
            binary=binary,
        )
        servers.append(sentinel)
        await wait_until(lambda: _sentinel_knows_the_replica(sentinel), 10, "the sentinel to see the replica")
        yield SentinelSet(master, replica, sentinel)
    finally:
        for server in servers:
            await server.stop()


async def test_a_burst_larger_than_the_pool_waits_for_connections_and_closing_leaves_none_open(
    sentinel_set: SentinelSet,
) -> None:
    servers = (sentinel_set.master, sentinel_set.sentinel)
    before = [await _clients(server) for server in servers]
    client = redis_from_url(sentinel_set.url)
    try:
        assert all(await asyncio.gather(*(client.ping() for _ in range(MAX_CONNECTIONS + 44))))
        assert await _clients(sentinel_set.master) == before[0] + MAX_CONNECTIONS
    finally:
        await client.aclose()

    async def none_left_open() -> bool:
        return [await _clients(server) for server in servers] == before

    await wait_until(none_left_open, 5, "the client's connections to the master and the sentinel closed")


async def _clients(server: EmbeddedRedis | EmbeddedSentinel) -> int:
    """Connections of type normal to ``server``, other than the one asking."""
    client = redis_from_url(server.url)
    try:
        return len(await client.client_list(_type="normal")) - 1
    finally:
        await client.aclose()


async def _ready(url: str) -> bool:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as r:
        return r.status == 200


async def _kill_the_master_and_wait_for_the_switch(redis: SentinelSet) -> str:
    """SIGKILL the master; returns the sentinel's ``+switch-master`` announcement."""
    watcher = redis_from_url(redis.sentinel.url)
    try:
        async with watcher.pubsub() as events:
            await events.subscribe("+switch-master")
            await redis.master.kill()
            async with asyncio.timeout(15):
                while True:
                    event = await events.get_message(ignore_subscribe_messages=True, timeout=15)
                    if event is not None:
                        return bytes(event["data"]).decode()
    finally:
        await watcher.aclose()


async def _pattern_subscribers(redis: EmbeddedRedis) -> int:
    """How many connections hold a pattern subscription on ``redis``."""
    client = redis_from_url(redis.url)
    try:
        return sum(int(c["psub"]) > 0 for c in await client.client_list(_type="pubsub"))
    finally:
        await client.aclose()


async def _help_request_across(
    a: RunningServer, b: RunningServer, kiosk_id: str, secret: str, agent_name: str, password: str
) -> None:
    """A kiosk on ``a`` asks for help; an agent on ``b`` is offered the call and accepts it: the offer
    crosses from a to b, the agent's arrival from b to a, both through Redis."""
    agent = await connect_agent(b, agent_name, password)
    kiosk = await connect_kiosk(a, kiosk_id, secret)
    try:
        await agent.send(SetState(state="available"))
        await agent.expect(AgentStateChanged, where=lambda m: m.state == "available")
        await kiosk.send(HelpRequest(topic="cash"))
        call_id = (await kiosk.expect(Queued)).call_id
        assert (await agent.expect(Offer)).call_id == call_id
        await agent.send(Accept(call_id=call_id))
        await agent.expect(CallAccepted)
        assert (await kiosk.expect(AgentJoined)).call_id == call_id
    finally:
        await kiosk.close()
        await agent.close()


@pytest.mark.postgres
async def test_servers_carry_on_through_a_sentinel_failover_without_a_restart(
    sentinel_set: SentinelSet,
    settings: Settings,
    postgres_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = sentinel_set.url
    on_sentinel = replace(settings, redis_url=url, database_url=postgres_url)
    async with running_server(on_sentinel) as a:
        secrets = {kiosk_id: await a.enroll(kiosk_id) for kiosk_id in ("k-1", "k-2")}
        for agent_name in ("ana", "ben"):
            await a.add_agent(agent_name, f"pw-{agent_name}", skills=("cash",))
        env = cli_env(
            KIOSK_ASSIST_REDIS_URL=url,
            KIOSK_ASSIST_REDIS_PREFIX=settings.redis_prefix,
            KIOSK_ASSIST_DATABASE_URL=postgres_url,
        )
        b = await ServerProcess(free_port(), "--data-dir", str(tmp_path / "b"), env=env).start()
        try:
            await _help_request_across(a, b.as_running(), "k-1", secrets["k-1"], "ana", "pw-ana")

            switch = await _kill_the_master_and_wait_for_the_switch(sentinel_set)
            assert switch.split()[-1] == str(sentinel_set.replica.port), switch

            async def both_ready() -> bool:
                return await _ready(a.url) and await _ready(b.url)

            await wait_until(both_ready, 20, "both servers ready again, on the promoted replica")
            # both delivery listeners hold their pattern subscription on the new master
            assert await _pattern_subscribers(sentinel_set.replica) >= 2
            await _help_request_across(a, b.as_running(), "k-2", secrets["k-2"], "ben", "pw-ben")
        finally:
            await b.stop()
    assert "subscription to Redis lost" in b.logs()
    assert "subscription to Redis lost" in caplog.text
    assert PASSWORD not in b.logs()
    assert PASSWORD not in caplog.text
