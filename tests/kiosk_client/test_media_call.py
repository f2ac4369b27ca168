"""End to end with real media: server + kiosk program (aiortc) + an aiortc agent peer."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import av

from kiosk_client.session import KioskOptions, KioskRunner
from media import read_frame_counter, tone_level
from signaling.protocol import Accept, CallAccepted, CallEnded, Hangup, Offer, SetState
from tests.agent_peer import AgentPeer
from tests.support import RunningServer, connect_agent, cut, wait_until

MEDIA_WAIT_S = 20.0


def _events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_video_audio_and_chat_flow_both_ways_between_kiosk_and_agent(
    server: RunningServer, tmp_path: Path
) -> None:
    secret = await server.enroll("k-media", "Airport hall")
    password = await server.add_agent("bob", skills=("cash",))
    agent = await connect_agent(server, "bob", password)
    await agent.send(SetState(state="available"))
    events_file = tmp_path / "events.jsonl"
    runner = KioskRunner(
        KioskOptions(
            server=server.url, kiosk_id="k-media", secret=secret, request_help="cash",
            say=("my card is stuck",), events=events_file,
        )
    )  # fmt: skip
    kiosk_task = asyncio.create_task(runner.run())
    peer = AgentPeer()
    try:
        offer = await agent.expect(Offer)
        await agent.send(Accept(call_id=offer.call_id))
        await peer.answer(agent, await agent.expect(CallAccepted))

        # the agent sees and hears the kiosk: frame counters advance, the tone is not silence
        await wait_until(lambda: _has(peer.consumers, "video", "audio"), MEDIA_WAIT_S)
        first = read_frame_counter(await peer.consumers["video"].wait_for_frames(1, MEDIA_WAIT_S))
        later = read_frame_counter(await peer.consumers["video"].wait_for_frames(15, MEDIA_WAIT_S))
        assert first is not None
        assert later is not None
        assert later > first
        assert (
            tone_level(await peer.consumers["audio"].wait_for_frames(25, MEDIA_WAIT_S)) > 0.05
        )  # a tone, not silence

        # the kiosk receives the agent's camera and microphone
        await wait_until(lambda: _peer_has(runner, "video", "audio"), MEDIA_WAIT_S)
        assert runner.peer is not None
        kiosk_sees = read_frame_counter(
            await runner.peer.consumers["video"].wait_for_frames(15, MEDIA_WAIT_S)
        )
        assert kiosk_sees is not None
        assert kiosk_sees > 0
        assert (
            tone_level(await runner.peer.consumers["audio"].wait_for_frames(25, MEDIA_WAIT_S)) > 0.05
        )  # a tone, not silence

        # chat both ways over the data channel
        assert await asyncio.wait_for(peer.chat_received.get(), MEDIA_WAIT_S) == "my card is stuck"
        await asyncio.wait_for(peer.chat_open.wait(), MEDIA_WAIT_S)
        assert peer.chat is not None
        peer.chat.send("I can see it; releasing it now")

        async def chat_logged() -> bool:
            return any(e["event"] == "chat_received" for e in _events(events_file))

        await wait_until(chat_logged, MEDIA_WAIT_S)

        await agent.send(Hangup(call_id=offer.call_id))
        ended = await asyncio.wait_for(kiosk_task, MEDIA_WAIT_S)
        assert ended is not None
        assert (ended.state.value, ended.reason) == ("completed", "agent_hangup")
        kinds = [e["event"] for e in _events(events_file)]
        for kind in ("queued", "agent_joined", "connected", "chat_received", "ended"):
            assert kind in kinds, kinds
        assert (
            kinds.index("queued")
            < kinds.index("agent_joined")
            < kinds.index("connected")
            < kinds.index("ended")
        )
        await agent.expect(CallEnded)
    finally:
        kiosk_task.cancel()
        await asyncio.gather(kiosk_task, return_exceptions=True)
        await peer.close()
        await agent.close()


async def _has(consumers: dict[str, object], *kinds: str) -> bool:
    return all(k in consumers for k in kinds)


async def _peer_has(runner: KioskRunner, *kinds: str) -> bool:
    return runner.peer is not None and all(k in runner.peer.consumers for k in kinds)


async def test_the_kiosk_command_records_the_agents_media_and_logs_its_events(
    server: RunningServer, tmp_path: Path
) -> None:
    secret = await server.enroll("k-cli", "Mall level 2")
    (tmp_path / "secret").write_text(secret + "\n")
    password = await server.add_agent("carol", skills=("cards",), languages=("en", "es"))
    agent = await connect_agent(server, "carol", password)
    await agent.send(SetState(state="available"))
    events_file, recording = tmp_path / "events.jsonl", tmp_path / "agent.mkv"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", "kiosk", "run", "--server", server.url, "--kiosk-id", "k-cli",
        "--secret-file", str(tmp_path / "secret"), "--media", "synthetic", "--request-help", "cards",
        "--language", "es", "--record-to", str(recording), "--events", str(events_file), "--headless",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    peer = AgentPeer()
    try:
        offer = await agent.expect(Offer, timeout=MEDIA_WAIT_S)
        assert (offer.kiosk_id, offer.language) == ("k-cli", "es")
        await agent.send(Accept(call_id=offer.call_id))
        await peer.answer(agent, await agent.expect(CallAccepted))

        async def connected() -> bool:
            return any(e["event"] == "connected" for e in _events(events_file))

        await wait_until(connected, MEDIA_WAIT_S)
        await wait_until(lambda: _has(peer.consumers, "video"), MEDIA_WAIT_S)
        await peer.consumers["video"].wait_for_frames(60, MEDIA_WAIT_S)  # about two seconds of call
        await agent.send(Hangup(call_id=offer.call_id))
        _, stderr = await asyncio.wait_for(process.communicate(), MEDIA_WAIT_S)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await peer.close()
        await agent.close()

    with av.open(str(recording)) as container:
        kinds = {s.type for s in container.streams}
        assert {"video", "audio"} <= kinds
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 10
    ended = [e for e in _events(events_file) if e["event"] == "ended"]
    assert ended
    assert ended[0]["reason"] == "agent_hangup"


async def test_a_call_survives_the_kiosk_losing_its_signalling_connection(
    server: RunningServer, tmp_path: Path
) -> None:
    """Media flows peer to peer; the kiosk reconnects with backoff, the server kept its call meanwhile, and
    the call goes on and ends normally on the new connection."""
    secret = await server.enroll("k-flaky", "Branch with a flaky line")
    agent = await connect_agent(server, "dan", await server.add_agent("dan", skills=("cash",)))
    await agent.send(SetState(state="available"))
    events_file = tmp_path / "events.jsonl"
    runner = KioskRunner(
        KioskOptions(
            server=server.url, kiosk_id="k-flaky", secret=secret, request_help="cash", events=events_file
        )
    )
    kiosk_task = asyncio.create_task(runner.run())
    peer = AgentPeer()
    try:
        offer = await agent.expect(Offer)
        await agent.send(Accept(call_id=offer.call_id))
        await peer.answer(agent, await agent.expect(CallAccepted))
        await wait_until(lambda: _has(peer.consumers, "video"), MEDIA_WAIT_S)
        await peer.consumers["video"].wait_for_frames(10, MEDIA_WAIT_S)

        assert runner.signaling._ws is not None
        cut(runner.signaling._ws)

        async def reconnected() -> dict[str, object] | None:
            return next((e for e in _events(events_file) if e["event"] == "reconnected"), None)

        back = await wait_until(reconnected, MEDIA_WAIT_S, "the kiosk to reconnect")
        assert back["call_id"] == offer.call_id  # the server kept the call for it
        video = peer.consumers["video"]
        before = read_frame_counter(await video.wait_for_frames(1, MEDIA_WAIT_S))
        assert before is not None

        async def later_frame() -> int | None:  # the media never stopped: newer frames keep coming
            shown = read_frame_counter(await video.wait_for_frames(1, MEDIA_WAIT_S))
            return shown if shown is not None and shown > before else None

        await wait_until(later_frame, MEDIA_WAIT_S, "the kiosk's video to carry on")

        await agent.send(Hangup(call_id=offer.call_id))
        ended = await asyncio.wait_for(kiosk_task, MEDIA_WAIT_S)  # told on its new connection
        assert ended is not None
        assert (ended.state.value, ended.reason) == ("completed", "agent_hangup")
        kinds = [e["event"] for e in _events(events_file)]
        assert kinds.index("connected") < kinds.index("reconnecting") < kinds.index("reconnected")
    finally:
        kiosk_task.cancel()
        await asyncio.gather(kiosk_task, return_exceptions=True)
        await peer.close()
        await agent.close()
