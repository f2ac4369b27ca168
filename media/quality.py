"""Call-quality scores from the figures WebRTC stats give: an audio MOS and a video score, both 1 to 5.

Pure functions of one stats sample (the figures of the last few seconds, not totals since the call began).

Audio — the E-model of ITU-T G.107, simplified as is usual for VoIP monitoring (R. G. Cole and
J. H. Rosenbluth, "Voice over IP performance monitoring", ACM SIGCOMM CCR 31(2), 2001)::

    R      = R0 - Id(d) - Ie_eff                        R0 = 93.2 (G.107 default transmission rating)
    Id(d)  = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)    d: one-way mouth-to-ear delay, ms; H: step function
    Ie_eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl)  G.107 eq. 7-29; Ppl: packet loss, percent
    MOS    = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R)    G.107 Annex B (R clamped to 0..100)

``d`` is half the round-trip time, plus the receiver's jitter buffer (as measured, or twice the jitter when
not), plus one 20 ms Opus frame of packetisation. Opus has no equipment-impairment values in G.113; we take
``Ie = 0`` (Opus at WebRTC's voice bitrates is transparent on the narrowband scale R0 belongs to) and
``Bpl = 25.1``, G.113 Appendix I's robustness of G.711 *with* packet-loss concealment — Opus conceals loss
at least as well, so the choice errs towards calling a call poor. ``BurstR = 1`` (random loss): per-packet
loss patterns are not in the stats, so bursts cannot be told apart.

Video — no standard maps WebRTC stats to a score, so this one is the product's own, built the way the
E-model is: each impairment is a factor in 0..1, and ``score = 1 + 4 · Q_fps · Q_bitrate · Q_loss``:

- ``Q_fps = min(1, fps / target_fps) ** 0.6``. Perceived quality grows concavely with frame rate (Ou, Ma
  and Wang, "Modeling the impact of frame rate on perceptual quality of video", ICIP 2008); the exponent
  is chosen so that half the target rate (15 of 30 fps) scores "fair" (~3.6) and 5 fps or less "poor".
- ``Q_bitrate = min(1, bpp / 0.07) ** 0.5`` with ``bpp = bitrate / (width · height · fps)``, the bits
  spent on each pixel of each frame. 0.07 bit per pixel is the "Kush gauge" rule of thumb for low-motion
  video (a face at a kiosk) at good quality; below it compression artefacts grow.
- ``Q_loss = 1 - P / (P + 6)``, P the video packet loss in percent: the E-model's loss term (above) with a
  smaller robustness (6 instead of 25.1), because a lost video packet damages every frame that refers to
  it until the next key frame, where a lost audio packet costs 20 ms. 1 % loss scores ~4.4, 10 % ~2.5.

A figure the sample lacks (None) impairs nothing: a score says what is known to be wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

R0 = 93.2
OPUS_IE = 0.0
OPUS_BPL = 25.1
BURST_R = 1.0
PACKETISATION_MS = 20.0
DELAY_KNEE_MS = 177.3

FPS_EXPONENT = 0.6
GOOD_BITS_PER_PIXEL = 0.07
BITRATE_EXPONENT = 0.5
VIDEO_BPL = 6.0
DEFAULT_TARGET_FPS = 30.0


@dataclass(frozen=True)
class Sample:
    """What one party measured over the last interval (None where it could not tell)."""

    rtt_ms: float | None = None
    jitter_ms: float | None = None
    jitter_buffer_ms: float | None = None
    audio_loss_pct: float | None = None
    video_loss_pct: float | None = None
    fps: float | None = None
    bitrate_kbps: float | None = None
    width: int | None = None
    height: int | None = None
    target_fps: float = DEFAULT_TARGET_FPS


@dataclass(frozen=True)
class Scores:
    mos: float | None
    """Audio MOS (1-5), None when the sample has no audio figures at all."""
    video: float | None
    """Video score (1-5), None when the sample has no video figures at all."""


def one_way_delay_ms(rtt_ms: float, jitter_ms: float = 0.0, jitter_buffer_ms: float | None = None) -> float:
    """Mouth-to-ear delay: half the round trip, the jitter buffer (or twice the jitter), packetisation."""
    buffer_ms = jitter_buffer_ms if jitter_buffer_ms is not None else 2.0 * jitter_ms
    return rtt_ms / 2.0 + buffer_ms + PACKETISATION_MS


def delay_impairment(d_ms: float) -> float:
    """Id(d) of Cole & Rosenbluth's simplified E-model."""
    knee = 0.11 * (d_ms - DELAY_KNEE_MS) if d_ms > DELAY_KNEE_MS else 0.0
    return 0.024 * d_ms + knee


def loss_impairment(
    loss_pct: float, ie: float = OPUS_IE, bpl: float = OPUS_BPL, burst_r: float = BURST_R
) -> float:
    """Ie_eff of G.107 (eq. 7-29)."""
    ppl = _clamp(loss_pct, 0.0, 100.0)
    return ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)


def r_to_mos(r: float) -> float:
    """G.107 Annex B: the transmission rating R as a mean opinion score (1-4.5)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


def audio_mos(
    rtt_ms: float | None,
    jitter_ms: float | None,
    loss_pct: float | None,
    jitter_buffer_ms: float | None = None,
) -> float:
    """The E-model MOS of a voice path (see the module's docstring); unknown figures count as perfect."""
    d = one_way_delay_ms(rtt_ms or 0.0, jitter_ms or 0.0, jitter_buffer_ms)
    r = R0 - delay_impairment(d) - loss_impairment(loss_pct or 0.0)
    return r_to_mos(r)


def video_score(
    fps: float | None,
    loss_pct: float | None,
    bitrate_kbps: float | None = None,
    width: int | None = None,
    height: int | None = None,
    target_fps: float = DEFAULT_TARGET_FPS,
) -> float:
    """The video score, 1-5 (see the module's docstring)."""
    q_fps = 1.0 if fps is None else float(min(1.0, max(fps, 0.0) / target_fps) ** FPS_EXPONENT)
    q_bitrate = _bitrate_quality(bitrate_kbps, width, height, fps)
    q_loss = 1.0 - _clamp(loss_pct or 0.0, 0.0, 100.0) / (_clamp(loss_pct or 0.0, 0.0, 100.0) + VIDEO_BPL)
    return 1.0 + 4.0 * q_fps * q_bitrate * q_loss


def score(sample: Sample) -> Scores:
    """Both scores of one sample."""
    audio_known = any(v is not None for v in (sample.rtt_ms, sample.jitter_ms, sample.audio_loss_pct))
    video_known = sample.fps is not None or sample.video_loss_pct is not None
    mos = audio_mos(sample.rtt_ms, sample.jitter_ms, sample.audio_loss_pct, sample.jitter_buffer_ms)
    video = video_score(
        sample.fps, sample.video_loss_pct, sample.bitrate_kbps, sample.width, sample.height, sample.target_fps
    )
    return Scores(mos=round(mos, 2) if audio_known else None, video=round(video, 2) if video_known else None)


def loss_percent(lost: int, received: int) -> float:
    """Packets lost as a percentage of those sent (lost + received), over one interval."""
    total = max(lost, 0) + max(received, 0)
    return 100.0 * max(lost, 0) / total if total else 0.0


def _bitrate_quality(
    bitrate_kbps: float | None, width: int | None, height: int | None, fps: float | None
) -> float:
    if bitrate_kbps is None or not width or not height or not fps or fps <= 0:
        return 1.0
    bpp = bitrate_kbps * 1000.0 / (width * height * fps)
    return float(min(1.0, bpp / GOOD_BITS_PER_PIXEL) ** BITRATE_EXPONENT)


def _clamp(value: float, low: float, high: float) -> float:
    if math.isnan(value):
        return low
    return min(high, max(low, value))
