"""The call-quality scorer against recorded sample sets: a good call, heavy loss, a long round trip, a low
frame rate (figures as a browser's and a kiosk's stats gave them over 5 s intervals)."""

from __future__ import annotations

import pytest

from media.quality import (
    Sample,
    audio_mos,
    delay_impairment,
    loss_impairment,
    loss_percent,
    r_to_mos,
    score,
    video_score,
)


def _vga(rtt: float, jitter: float, audio_loss: float, video_loss: float, fps: float, kbps: float) -> Sample:
    """One 5 s sample of a 640x480 call: round trip and jitter (ms), loss (%), frame rate, bitrate."""
    return Sample(rtt, jitter, None, audio_loss, video_loss, fps, kbps, 640, 480)


GOOD = [
    _vga(38, 3.1, 0.0, 0.1, 29.8, 820),
    _vga(41, 4.0, 0.2, 0.0, 30.0, 760),
    _vga(45, 2.7, 0.1, 0.3, 29.5, 905),
]  # fmt: skip
POOR_LOSS = [
    _vga(52, 18, 14.0, 16.5, 21, 310),
    _vga(60, 22, 19.2, 21.0, 18, 280),
    _vga(57, 25, 17.7, 18.3, 17, 260),
]  # fmt: skip
POOR_RTT = [
    _vga(820, 12, 0.4, 0.6, 28, 700),
    _vga(910, 15, 0.3, 0.5, 29, 690),
    _vga(1040, 9, 0.2, 0.4, 27, 720),
]  # fmt: skip
LOW_FPS = [
    _vga(40, 3, 0.0, 0.2, 4.2, 140),
    _vga(42, 4, 0.1, 0.0, 3.6, 120),
    _vga(39, 3, 0.0, 0.1, 5.0, 150),
]  # fmt: skip

POOR_MOS, POOR_VIDEO = 3.1, 2.5  # the server's default thresholds (Settings)


@pytest.mark.parametrize("sample", GOOD)
def test_a_good_call_scores_good_audio_and_video(sample: Sample) -> None:
    scores = score(sample)
    assert scores.mos is not None
    assert scores.mos >= 4.2
    assert scores.video is not None
    assert scores.video >= 4.0


@pytest.mark.parametrize("sample", POOR_LOSS)
def test_heavy_packet_loss_makes_both_audio_and_video_poor(sample: Sample) -> None:
    scores = score(sample)
    assert scores.mos is not None
    assert scores.mos < POOR_MOS
    assert scores.video is not None
    assert scores.video < POOR_VIDEO


@pytest.mark.parametrize("sample", POOR_RTT)
def test_a_long_round_trip_makes_audio_poor_but_not_video(sample: Sample) -> None:
    scores = score(sample)
    assert scores.mos is not None
    assert scores.mos < POOR_MOS
    assert scores.video is not None
    assert scores.video >= 4.0


@pytest.mark.parametrize("sample", LOW_FPS)
def test_a_low_frame_rate_makes_video_poor_but_not_audio(sample: Sample) -> None:
    scores = score(sample)
    assert scores.mos is not None
    assert scores.mos >= 4.2
    assert scores.video is not None
    assert scores.video < POOR_VIDEO


def test_the_e_model_matches_its_published_reference_points() -> None:
    # G.107 Annex B: R = 93.2 gives MOS 4.41; R = 50 gives 2.58; the scale is clamped at 1 and 4.5
    assert r_to_mos(93.2) == pytest.approx(4.41, abs=0.01)
    assert r_to_mos(50) == pytest.approx(2.58, abs=0.01)
    assert r_to_mos(-5) == 1.0
    assert r_to_mos(120) == 4.5
    # Cole & Rosenbluth: Id grows 0.024/ms, and 0.134/ms past 177.3 ms
    assert delay_impairment(100) == pytest.approx(2.4)
    assert delay_impairment(277.3) == pytest.approx(0.024 * 277.3 + 11.0)
    # no loss, no impairment; half the packets lost: most of the scale gone
    assert loss_impairment(0) == 0
    assert loss_impairment(50) == pytest.approx(95 * 50 / (50 + 25.1))


def test_scores_fall_as_each_impairment_grows() -> None:
    assert audio_mos(40, 3, 0) > audio_mos(40, 3, 5) > audio_mos(40, 3, 20)
    assert audio_mos(40, 3, 0) > audio_mos(400, 3, 0) > audio_mos(1000, 3, 0)
    assert video_score(30, 0) > video_score(15, 0) > video_score(5, 0)
    assert video_score(30, 0) > video_score(30, 3) > video_score(30, 12)
    assert (
        video_score(30, 0, 900, 640, 480)
        > video_score(30, 0, 200, 640, 480)
        > video_score(30, 0, 50, 640, 480)
    )


def test_scores_stay_within_one_to_five_whatever_the_figures() -> None:
    for rtt, loss, fps in ((0, 0, 30), (60_000, 100, 0), (5, 100, 240), (60_000, 0, 0.01)):
        mos = audio_mos(rtt, 1000, loss)
        video = video_score(fps, loss, 1, 1920, 1080)
        assert 1.0 <= mos <= 4.5
        assert 1.0 <= video <= 5.0


def test_a_sample_without_audio_or_video_figures_has_no_score_for_them() -> None:
    assert score(Sample()).mos is None
    assert score(Sample()).video is None
    assert score(Sample(fps=30)).mos is None


def test_loss_percent_counts_lost_among_all_sent() -> None:
    assert loss_percent(5, 95) == 5.0
    assert loss_percent(0, 0) == 0.0
