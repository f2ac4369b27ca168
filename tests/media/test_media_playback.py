"""Speaker: the agent's voice is played on an ALSA device, latency stays bounded, failures are clear.

No sound card is needed: the devices are alsa-lib ``file`` PCMs (tests/media/conftest.py ``alsa``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from av import AudioFrame

from media import DeviceUnavailable, SyntheticAudioTrack, tone_level
from media.errors import ConsumerStopped, MediaError, TrackEnded
from media.playback import Speaker, probe_speaker
from tests.media.media_test_support import (
    AlsaSandbox,
    FiniteTrack,
    FrameIndexAudioTrack,
    Loopback,
    dominant_frequency,
    frame_numbers,
    read_s16,
)

pytestmark = pytest.mark.timeout(30)

SAMPLES_PER_FRAME = 960  # 20 ms at 48 kHz


def stereo_level(samples: np.ndarray[tuple[int, int], np.dtype[np.int16]]) -> float:
    return tone_level(AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo"))


async def test_speaker_plays_the_tone_into_the_device(alsa: AlsaSandbox) -> None:
    source = SyntheticAudioTrack(frequency=440.0, amplitude=0.25)  # mono
    speaker = Speaker(FiniteTrack(source, limit=50), "kiosk_speaker")

    speaker.start()
    try:
        await speaker.wait_finished(timeout=10)  # the track ended and was played out
    finally:
        await speaker.stop()
        source.stop()

    played = read_s16(alsa.speaker_raw, channels=2)
    assert speaker.frames_played + speaker.frames_dropped == 50
    assert speaker.frames_played >= 45
    assert len(played) == speaker.frames_played * SAMPLES_PER_FRAME
    assert speaker.seconds_played == pytest.approx(len(played) / 48000)
    assert (played[:, 0] == played[:, 1]).all()  # mono spread to both channels
    assert dominant_frequency(played[:, 0], 48000) == pytest.approx(440, abs=2)
    # a sine of amplitude 0.25 has RMS 0.177; mono to stereo pans it by -3 dB
    assert stereo_level(played) == pytest.approx(0.25 / 2, abs=0.005)
    assert not speaker.running
    assert not speaker.failed


async def test_agents_voice_received_over_webrtc_plays_on_the_speaker(
    loopback: Loopback, alsa: AlsaSandbox
) -> None:
    speaker = Speaker(loopback.audio, "kiosk_speaker")

    speaker.start()
    try:
        assert speaker.running
        await speaker.wait_frames(played=50, timeout=10)
    finally:
        await speaker.stop()

    played = read_s16(alsa.speaker_raw, channels=2)
    assert len(played) >= 50 * SAMPLES_PER_FRAME
    steady = played[-25 * SAMPLES_PER_FRAME :]  # past Opus's start-up
    assert dominant_frequency(steady[:, 0], 48000) == pytest.approx(440, abs=5)
    assert stereo_level(steady) > 0.05
    assert speaker.finished


async def test_a_missing_device_raises_device_unavailable(alsa: AlsaSandbox) -> None:
    source = SyntheticAudioTrack()
    speaker = Speaker(source, "no-such-pcm")

    with pytest.raises(DeviceUnavailable) as raised:
        speaker.start()

    assert raised.value.kind == "speaker"
    assert raised.value.device == "no-such-pcm"
    assert str(raised.value).startswith(
        "cannot open speaker device 'no-such-pcm': alsa could not open it for playback"
    )
    assert not speaker.running
    await speaker.stop(grace=1)
    source.stop()


def test_probe_speaker_opens_a_working_device_and_rejects_a_missing_one(alsa: AlsaSandbox) -> None:
    probe_speaker("kiosk_speaker")

    assert alsa.speaker_raw.read_bytes() == b""  # opened, nothing played
    with pytest.raises(DeviceUnavailable, match="cannot open speaker device 'no-such-pcm'"):
        probe_speaker("no-such-pcm")


async def test_stop_is_idempotent_and_a_stopped_speaker_cannot_restart(alsa: AlsaSandbox) -> None:
    source = SyntheticAudioTrack()
    speaker = Speaker(source, "kiosk_speaker")
    speaker.start()
    speaker.start()  # no-op
    await speaker.wait_frames(played=3, timeout=5)

    await speaker.stop(grace=2)
    await speaker.stop(grace=2)

    assert speaker.finished
    assert not speaker.running
    assert source.readyState == "live"  # the speaker does not own the track
    with pytest.raises(ConsumerStopped):
        await speaker.wait_frames(played=1000, timeout=1)
    with pytest.raises(RuntimeError, match="cannot be restarted"):
        speaker.start()
    source.stop()


async def test_waiting_for_more_frames_than_a_track_has_reports_the_end(alsa: AlsaSandbox) -> None:
    source = SyntheticAudioTrack()
    speaker = Speaker(FiniteTrack(source, limit=5), "kiosk_speaker")
    speaker.start()
    try:
        with pytest.raises(TrackEnded, match="the track ended"):
            await speaker.wait_frames(played=100, timeout=10)
    finally:
        await speaker.stop()
        source.stop()


async def test_a_blocked_device_drops_the_oldest_audio_so_latency_stays_bounded(
    alsa: AlsaSandbox, tmp_path: Path
) -> None:
    track = FrameIndexAudioTrack()
    drained_into = tmp_path / "drained.raw"
    with fifo_reader(alsa.slow_fifo) as reader:
        speaker = Speaker(track, "kiosk_slow", max_queued=0.2)
        speaker.start()
        try:
            # Nobody reads the pipe: once ALSA's buffer (~2.7 s) and the pipe are full, writes block.
            await speaker.wait_frames(dropped=25, timeout=15)
            assert speaker.queued_seconds <= 0.2 + 1e-6
            newest_while_blocked = track.delivered
            async with draining(reader, into=drained_into):
                await speaker.wait_frames(played=speaker.frames_played + 25, timeout=10)
                track.stop()
                await speaker.wait_finished(timeout=10)
        finally:
            await speaker.stop()
            track.stop()

    numbers = frame_numbers(read_s16(drained_into, channels=2), SAMPLES_PER_FRAME)
    assert len(numbers) == speaker.frames_played
    assert len(numbers) + speaker.frames_dropped == track.delivered
    assert all(later > earlier for earlier, later in itertools.pairwise(numbers))  # in order, no repeats
    gaps = [(earlier, later) for earlier, later in itertools.pairwise(numbers) if later != earlier + 1]
    assert sum(later - earlier - 1 for earlier, later in gaps) == speaker.frames_dropped
    _, resumed_at = max(gaps, key=lambda gap: gap[1] - gap[0])
    # after the block, playing resumed with the newest 0.2 s (10 frames), not with the oldest audio
    assert resumed_at >= newest_while_blocked - 9


async def test_stop_returns_within_its_grace_while_the_device_is_blocked(
    alsa: AlsaSandbox, tmp_path: Path
) -> None:
    track = FrameIndexAudioTrack()
    with fifo_reader(alsa.slow_fifo) as reader:
        speaker = Speaker(track, "kiosk_slow")
        speaker.start()
        try:
            await speaker.wait_frames(dropped=1, timeout=15)  # blocked
            await asyncio.wait_for(speaker.stop(grace=0.5), 5)  # returns although the device is stuck
            assert not speaker.running
            assert not speaker.finished  # the writer is still stuck in the device

            async with draining(reader, into=tmp_path / "drained.raw"):
                await speaker.stop(grace=10)  # once the device moves again, the writer closes it
            assert speaker.finished
        finally:
            track.stop()


async def test_a_device_that_fails_while_playing_is_reported_and_the_track_still_drained(
    alsa: AlsaSandbox,
) -> None:
    track = FrameIndexAudioTrack()
    with fifo_reader(alsa.slow_fifo) as reader:
        speaker = Speaker(track, "kiosk_slow")
        speaker.start()
        try:
            await speaker.wait_frames(dropped=1, timeout=15)  # blocked in a write
            os.close(reader)  # the device goes away: the blocked write fails (EPIPE)
            await speaker.wait_finished(timeout=5)

            assert speaker.failed
            assert speaker.failure is not None
            assert speaker.failure.startswith("alsa write failed")
            assert not speaker.running
            dropped = speaker.frames_dropped
            await speaker.wait_frames(dropped=dropped + 5, timeout=5)  # still reading the track
            with pytest.raises(MediaError, match="alsa write failed"):
                await speaker.wait_frames(played=speaker.frames_played + 1, timeout=5)
        finally:
            await speaker.stop()
            track.stop()


@contextlib.contextmanager
def fifo_reader(fifo: Path) -> Iterator[int]:
    """Hold the named pipe's read end (so the file PCM can open it) without reading; a one-page pipe."""
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)
    try:
        yield reader
    finally:
        with contextlib.suppress(OSError):  # already closed (handed over, or closed by the test)
            os.close(reader)


@contextlib.asynccontextmanager
async def draining(reader: int, *, into: Path) -> AsyncIterator[None]:
    """Let ``cat`` drain the pipe into a file from now on; it ends when the device is closed.

    A separate process, because PyAV holds the GIL while it flushes the device on close.
    """
    os.set_blocking(reader, True)
    with into.open("wb") as out:
        cat = await asyncio.create_subprocess_exec("cat", stdin=reader, stdout=out)
    os.close(reader)
    try:
        yield
    finally:
        try:
            await asyncio.wait_for(cat.wait(), timeout=10)
        except TimeoutError:
            cat.kill()
            await cat.wait()
            raise
