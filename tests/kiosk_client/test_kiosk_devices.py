"""The kiosk's devices: the agent's voice played on the kiosk's speaker during a real call, and the device
check that tells IT what works. There is no sound card here: alsa-lib's ``file`` plugin stands in for the
speaker and microphone (tests/media/media_test_support.py), so the real ALSA output path is exercised."""

from __future__ import annotations

import asyncio
import json

from kiosk_client.session import KioskOptions, KioskRunner
from media import MediaSource, SyntheticAudioTrack, SyntheticVideoTrack
from signaling.protocol import Accept, CallAccepted, Offer, SetState
from tests.agent_peer import AgentPeer
from tests.media.media_test_support import AlsaSandbox, dominant_frequency, read_s16
from tests.support import RunningServer, cli_env, connect_agent, run_cli

WAIT_S = 20.0
AGENT_TONE_HZ = 660.0


async def test_the_agents_voice_is_played_on_the_kiosks_speaker(
    server: RunningServer, alsa: AlsaSandbox
) -> None:
    secret = await server.enroll("k-speaker")
    agent = await connect_agent(server, "sam", await server.add_agent("sam", skills=("cash",)))
    source = MediaSource(SyntheticVideoTrack(320, 240), SyntheticAudioTrack())
    options = KioskOptions(
        server=server.url,
        kiosk_id="k-speaker",
        secret=secret,
        request_help="cash",
        speaker_device="kiosk_speaker",
    )
    runner = KioskRunner(options, source=source)
    kiosk = asyncio.create_task(runner.run())
    peer = AgentPeer()
    peer.audio = SyntheticAudioTrack(
        frequency=AGENT_TONE_HZ
    )  # the agent's voice, told apart from the kiosk's
    try:
        await agent.send(SetState(state="available"))
        offer = await agent.expect(Offer)
        await agent.send(Accept(call_id=offer.call_id))
        await peer.answer(agent, await agent.expect(CallAccepted))
        assert runner.peer is not None
        await asyncio.wait_for(runner.peer.alive.wait(), WAIT_S)
        speaker = runner.peer.speaker
        assert speaker is not None, "the agent's audio went to the speaker"
        await speaker.wait_frames(played=100, timeout=WAIT_S)  # 2 s of the agent's voice
        await runner.peer.close()
        assert speaker.frames_dropped <= speaker.frames_played // 10, (
            speaker.frames_dropped,
            speaker.frames_played,
        )
    finally:
        kiosk.cancel()
        await asyncio.gather(kiosk, return_exceptions=True)
        await peer.close()
        await agent.close()
        await source.close()
    played = read_s16(alsa.speaker_raw, channels=2)
    assert len(played) >= 48000, "at least a second of sound reached the speaker"
    last_second = played[-48000:, 0]
    assert abs(dominant_frequency(last_second, 48000) - AGENT_TONE_HZ) < 5
    assert float(abs(last_second.astype(float)).mean()) > 500, "not silence"


async def test_check_devices_reports_what_works_and_why_the_rest_does_not(alsa: AlsaSandbox) -> None:
    env = cli_env(ALSA_CONFIG_PATH=str(alsa.config))
    devices = ("--video-device", "/dev/video-missing", "--audio-device", "kiosk_mic")
    code, out, err = await run_cli(
        "kiosk", "check-devices", *devices, "--speaker-device", "kiosk_speaker", env=env
    )
    assert code == 1, (out, err)  # not everything works
    lines = out.splitlines()
    assert lines[0].startswith("camera /dev/video-missing: not working (v4l2 could not open it")
    assert lines[1:] == ["microphone kiosk_mic: working (opened)", "speaker kiosk_speaker: working (opened)"]

    code, out, _ = await run_cli(
        "kiosk", "check-devices", *devices, "--speaker-device", "no-such-speaker", "--json", env=env
    )
    report = json.loads(out)
    assert code == 1
    assert report["microphone"]["working"] is True
    assert report["speaker"]["working"] is False
    assert "no-such-speaker" in report["speaker"]["detail"]


async def test_a_kiosk_reports_its_device_check_when_it_starts(
    server: RunningServer, alsa: AlsaSandbox
) -> None:
    secret = await server.enroll("k-check")
    options = KioskOptions(
        server=server.url,
        kiosk_id="k-check",
        secret=secret,
        media="device",
        video_device="/dev/video-missing",
        audio_device="kiosk_mic",
        speaker_device="kiosk_speaker",
        exit_after_call=False,
    )
    runner = KioskRunner(options)
    signed_in = asyncio.Event()
    runner.events.subscribe(lambda record: signed_in.set() if record["event"] == "signed_in" else None)
    kiosk = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(signed_in.wait(), WAIT_S)
    finally:
        kiosk.cancel()
        await asyncio.gather(kiosk, return_exceptions=True)
    check = next(e for e in runner.events.events if e["event"] == "device_check")
    assert check["all_working"] is False
    assert check["devices"]["camera"]["working"] is False
    assert "could not open" in check["devices"]["camera"]["detail"]
    assert check["devices"]["speaker"] == {"device": "kiosk_speaker", "working": True, "detail": "opened"}
