"""Human-readable digits drawn as seven-segment glyphs with plain numpy slicing."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_SEGMENTS_BY_DIGIT = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}


def text_width(text: str, digit_height: int) -> int:
    """Width in pixels that :func:`draw_digits` needs for ``text``."""
    digit_width, gap = digit_height // 2, digit_height // 5
    return len(text) * digit_width + max(len(text) - 1, 0) * gap


def draw_digits(
    image: NDArray[np.uint8], text: str, top: int, left: int, digit_height: int, colour: int = 255
) -> None:
    """Draw the decimal ``text`` into ``image`` (height x width x channels), in place, clipped."""
    digit_width, gap = digit_height // 2, digit_height // 5
    for position, char in enumerate(text):
        x = left + position * (digit_width + gap)
        for segment in _SEGMENTS_BY_DIGIT[char]:
            y0, x0, h, w = _segment_rect(segment, digit_width, digit_height)
            _fill(image, top + y0, left=x + x0, height=h, width=w, colour=colour)


def _segment_rect(segment: str, width: int, height: int) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of one segment inside a digit cell."""
    t = max(height // 10, 1)
    half = height // 2
    return {
        "a": (0, t, t, width - 2 * t),
        "b": (t, width - t, half - t, t),
        "c": (half, width - t, half - t, t),
        "d": (height - t, t, t, width - 2 * t),
        "e": (half, 0, half - t, t),
        "f": (t, 0, half - t, t),
        "g": (half - t // 2, t, t, width - 2 * t),
    }[segment]


def _fill(image: NDArray[np.uint8], top: int, *, left: int, height: int, width: int, colour: int) -> None:
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, image.shape[0]), min(left + width, image.shape[1])
    if y1 > y0 and x1 > x0:
        image[y0:y1, x0:x1] = colour
