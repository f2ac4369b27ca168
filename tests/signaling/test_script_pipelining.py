"""Routing scripts asked for in one event-loop turn go to Redis as one pipeline, each caller still getting
its own reply or error (tested against the real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from signaling.routing.pipelining import ScriptRunner

ECHO = "redis.call('INCR', KEYS[1] or (ARGV[1] .. ':n')); return {ARGV[1], ARGV[2]}"
FAIL = "return redis.error_reply('refused ' .. ARGV[2])"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_calls_made_together_share_one_pipeline_and_each_gets_its_own_reply(
    redis: Redis, redis_prefix: str
) -> None:
    runner = ScriptRunner(redis, {"echo": redis.register_script(ECHO), "fail": redis.register_script(FAIL)})
    calls = [runner.run("fail" if i % 5 == 4 else "echo", [redis_prefix, str(i)]) for i in range(20)]
    replies = await asyncio.gather(*calls, return_exceptions=True)
    assert (runner.batches, runner.calls) == (1, 20)
    for i, reply in enumerate(replies):
        if i % 5 == 4:
            assert isinstance(reply, ResponseError)
            assert str(reply) == f"refused {i}"
        else:
            assert reply == [redis_prefix.encode(), str(i).encode()]
    assert int(await redis.get(f"{redis_prefix}:n") or 0) == 16  # every script ran, once

    lone = await runner.run("echo", [redis_prefix, "alone"])  # a call on its own is sent at once
    assert lone == [redis_prefix.encode(), b"alone"]
    assert runner.batches == 2


async def test_scripts_redis_has_forgotten_are_loaded_again(redis: Redis, redis_prefix: str) -> None:
    """After a Redis restart (or SCRIPT FLUSH) the cache is empty: every caller is still answered."""
    runner = ScriptRunner(redis, {"echo": redis.register_script(ECHO)})
    await runner.run("echo", [redis_prefix, "warm"])
    await redis.script_flush()
    replies = await asyncio.gather(*(runner.run("echo", [redis_prefix, str(i)]) for i in range(5)))
    assert replies == [[redis_prefix.encode(), str(i).encode()] for i in range(5)]
    assert int(await redis.get(f"{redis_prefix}:n") or 0) == 6


async def test_a_caller_that_gives_up_does_not_break_the_others(redis: Redis, redis_prefix: str) -> None:
    runner = ScriptRunner(redis, {"echo": redis.register_script(ECHO)})
    tasks = [asyncio.create_task(runner.run("echo", [redis_prefix, str(i)])) for i in range(3)]
    await asyncio.sleep(0)  # let the three ask (the flush runs on the loop's next turn)
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert done[0] == [redis_prefix.encode(), b"0"]
    assert done[2] == [redis_prefix.encode(), b"2"]
    await runner.aclose()
    assert int(await redis.get(f"{redis_prefix}:n") or 0) == 3  # the abandoned script ran all the same
