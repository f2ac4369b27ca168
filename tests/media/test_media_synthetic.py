"""The synthetic camera and microphone: pacing, the burned-in counter, the tone."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
import pytest
from aiortc import AudioStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from media import SyntheticAudioTrack, SyntheticVideoTrack, _sevenseg, read_frame_counter, tone_level
from media._pattern import PatternRenderer
from tests.media.media_test_support import grey_frame

pytestmark = pytest.mark.timeout(30)


async def recv_video(track: SyntheticVideoTrack, count: int) -> list[VideoFrame]:
    async with asyncio.timeout(10):
        return [await track.recv() for _ in range(count)]


async def recv_audio(track: SyntheticAudioTrack, count: int) -> list[AudioFrame]:
    async with asyncio.timeout(10):
        return [await track.recv() for _ in range(count)]


@pytest.mark.parametrize("fps", [30, 15])
async def test_video_frames_arrive_at_the_configured_rate_with_consecutive_counters(fps: int) -> None:
    track = SyntheticVideoTrack(width=320, height=240, fps=fps)
    started = time.monotonic()
    frames = await recv_video(track, 16)
    elapsed = time.monotonic() - started

    expected = 15 / fps  # the first frame is immediate
    assert expected * 0.9 <= elapsed <= expected * 1.5
    assert [read_frame_counter(frame) for frame in frames] == list(range(16))
    assert [frame.pts for frame in frames] == [round(i * 90000 / fps) for i in range(16)]
    assert {(frame.width, frame.height) for frame in frames} == {(320, 240)}
    assert frames[0].time_base == fractions.Fraction(1, 90000)


async def test_stopped_video_track_ends() -> None:
    track = SyntheticVideoTrack()
    await track.recv()
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


def test_moving_box_changes_the_picture_between_frames() -> None:
    pattern = PatternRenderer(640, 480)
    first, later = pattern.render(0), pattern.render(10)
    bars = slice(0, 480 * 2 // 3)
    assert np.count_nonzero(first[bars] != later[bars]) > 1000


@pytest.mark.parametrize("counter", [0, 7, 1234, 98765, 16_777_215])
def test_frame_shows_the_counter_as_seven_segment_digits(counter: int) -> None:
    image = PatternRenderer(640, 480).render(counter)
    assert read_seven_segment_digits(image) == f"{counter:08d}"


def read_seven_segment_digits(image: np.ndarray) -> str:
    """A tiny OCR for the pattern's digit panel: sample the middle of each segment."""
    height, width = image.shape[:2]
    top_of_panel, bottom_of_panel = height * 2 // 3, round(21.5 * height / 24)
    digit_height = (bottom_of_panel - top_of_panel) * 7 // 10
    digit_width, gap = digit_height // 2, digit_height // 5
    left = (width - _sevenseg.text_width("0" * 8, digit_height)) // 2
    top = top_of_panel + (bottom_of_panel - top_of_panel - digit_height) // 2
    glyphs = {frozenset(segments): digit for digit, segments in _sevenseg._SEGMENTS_BY_DIGIT.items()}
    text = ""
    for position in range(8):
        x = left + position * (digit_width + gap)
        lit = set()
        for segment in "abcdefg":
            y0, x0, h, w = _sevenseg._segment_rect(segment, digit_width, digit_height)
            if image[top + y0 + h // 2, x + x0 + w // 2].mean() > 128:
                lit.add(segment)
        text += glyphs.get(frozenset(lit), "?")
    return text


def vp8_round_trip(frames: list[VideoFrame], bit_rate: int) -> list[VideoFrame]:
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.bit_rate = bit_rate
    encoder.options = {"deadline": "realtime", "cpu-used": "8"}
    decoder = av.CodecContext.create("vp8", "r")
    decoded: list[VideoFrame] = []
    for index, frame in enumerate([*frames, None]):
        if frame is not None:
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = index, encoder.time_base
        for packet in encoder.encode(frame):
            decoded.extend(decoder.decode(packet))
    return decoded


COUNTERS = [i * 4099 for i in range(30)]  # many different bit patterns


@pytest.fixture(scope="module")
def vp8_received() -> list[VideoFrame]:
    """The pattern for COUNTERS after a 150 kbit/s VP8 encode and decode (done once: it is slow)."""
    pattern = PatternRenderer(640, 480)
    sent = [VideoFrame.from_ndarray(pattern.render(c), format="rgb24") for c in COUNTERS]
    return vp8_round_trip(sent, bit_rate=150_000)


@pytest.mark.parametrize("size", [None, (320, 240), (1280, 720)], ids=["native", "downscaled", "upscaled"])
def test_counter_survives_a_low_bitrate_vp8_round_trip_and_scaling(
    vp8_received: list[VideoFrame], size: tuple[int, int] | None
) -> None:
    received = vp8_received
    if size is not None:
        received = [frame.reformat(width=size[0], height=size[1]) for frame in received]

    assert len(received) == len(COUNTERS)
    assert [read_frame_counter(frame) for frame in received] == COUNTERS


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(grey_frame(640, 480, 128), id="flat-grey"),
        pytest.param(grey_frame(640, 480, 0), id="black"),
        pytest.param(
            VideoFrame.from_ndarray(
                np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8), format="rgb24"
            ),
            id="noise",
        ),
        pytest.param(grey_frame(32, 24, 255), id="too-small"),
    ],
)
def test_read_frame_counter_returns_none_when_there_is_no_code(frame: VideoFrame) -> None:
    assert read_frame_counter(frame) is None


def test_read_frame_counter_rejects_a_damaged_code() -> None:
    image = PatternRenderer(640, 480).render(12345)
    image[440:460, 300:320] = 255 - image[440:460, 300:320]  # flip one data block: parity fails
    assert read_frame_counter(VideoFrame.from_ndarray(image, format="rgb24")) is None


async def test_tone_is_a_non_silent_48k_mono_s16_sine_at_440_hz() -> None:
    frames = await recv_audio(SyntheticAudioTrack(), 10)

    assert {(f.sample_rate, f.samples, f.format.name, f.layout.name) for f in frames} == {
        (48000, 960, "s16", "mono")
    }
    assert [f.pts for f in frames] == [i * 960 for i in range(10)]
    assert all(tone_level(f) == pytest.approx(0.25 / np.sqrt(2), rel=0.02) for f in frames)
    samples = np.concatenate([f.to_ndarray()[0] for f in frames]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * 48000 / len(samples)
    assert peak_hz == pytest.approx(440, abs=48000 / len(samples))


async def test_tone_is_phase_continuous_across_frames() -> None:
    frames = await recv_audio(SyntheticAudioTrack(frequency=1000.0, amplitude=0.5), 5)

    samples = np.concatenate([f.to_ndarray()[0] for f in frames]).astype(np.float64)
    ideal = np.sin(2 * np.pi * 1000.0 * np.arange(len(samples)) / 48000) * 0.5 * 32767
    assert np.max(np.abs(samples - ideal)) <= 2


async def test_tone_is_paced_in_real_time() -> None:
    track = SyntheticAudioTrack()
    started = time.monotonic()
    await recv_audio(track, 11)
    elapsed = time.monotonic() - started
    assert 0.18 <= elapsed <= 0.35  # ten 20 ms frames after the immediate first one


async def test_tone_level_of_silence_is_zero() -> None:
    silence = await AudioStreamTrack().recv()
    assert isinstance(silence, AudioFrame)
    assert tone_level(silence) == 0.0
