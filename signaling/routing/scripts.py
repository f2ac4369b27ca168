"""Loads the routing Lua scripts once; each runs with the shared library prepended."""

from __future__ import annotations

from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

SCRIPT_NAMES = (
    "enqueue",
    "agent_online",
    "agent_state",
    "accept",
    "release",
    "hangup",
    "wrap_up",
    "extend_wrap_up",
    "expire_wait",
    "transfer",
    "gone",
    "sweep",
    "oldest",
    "left",
    "media",
    "survey",
)


def script_source(name: str) -> str:
    folder = resources.files("signaling.routing") / "lua"
    return (folder / "lib.lua").read_text() + "\n" + (folder / f"{name}.lua").read_text()


def register_scripts(redis: Redis) -> dict[str, AsyncScript]:
    return {name: redis.register_script(script_source(name)) for name in SCRIPT_NAMES}
