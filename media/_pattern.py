"""The synthetic test picture: colour bars, a moving box, the counter as digits and as a block code."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from media import _blockcode, _sevenseg

# 75% colour bars: white, yellow, cyan, green, magenta, red, blue.
_BARS = [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191)]
_PANEL_GREY = 32
_CODE_BAND_GREY = 128
_COUNTER_DIGITS = 8  # 2**24 - 1 has eight decimal digits


class PatternRenderer:
    """Renders frame ``n`` of the pattern as an RGB array; the static background is drawn once."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._bars_bottom = height * 2 // 3
        self._panel_bottom = round((_blockcode.CODE_ROW - 0.5) * height / _blockcode.ROWS)
        self._background = self._draw_background()

    def render(self, counter: int) -> NDArray[np.uint8]:
        image = self._background.copy()
        self._draw_box(image, counter)
        self._draw_counter_digits(image, counter)
        _blockcode.draw_code(image, counter)
        return image

    def _draw_background(self) -> NDArray[np.uint8]:
        image = np.zeros((self.height, self.width, 3), dtype=np.uint8)
        for index, colour in enumerate(_BARS):
            x0 = index * self.width // len(_BARS)
            x1 = (index + 1) * self.width // len(_BARS)
            image[: self._bars_bottom, x0:x1] = colour
        image[self._bars_bottom : self._panel_bottom] = _PANEL_GREY
        band_bottom = round((_blockcode.CODE_ROW + 1.5) * self.height / _blockcode.ROWS)
        image[self._panel_bottom : band_bottom] = _CODE_BAND_GREY
        return image

    def _draw_box(self, image: NDArray[np.uint8], counter: int) -> None:
        size = max(self.height // 8, 4)
        x = _bounce(counter * max(self.width // 160, 1), self.width - size)
        y = _bounce(counter * max(self.height // 160, 1), self._bars_bottom - size)
        border = max(size // 8, 1)
        image[y : y + size, x : x + size] = 255
        image[y + border : y + size - border, x + border : x + size - border] = 0

    def _draw_counter_digits(self, image: NDArray[np.uint8], counter: int) -> None:
        text = f"{counter & _blockcode.MAX_COUNTER:0{_COUNTER_DIGITS}d}"
        panel_height = self._panel_bottom - self._bars_bottom
        digit_height = panel_height * 7 // 10
        left = (self.width - _sevenseg.text_width(text, digit_height)) // 2
        top = self._bars_bottom + (panel_height - digit_height) // 2
        _sevenseg.draw_digits(image, text, top, left, digit_height)


def _bounce(distance: int, span: int) -> int:
    """Position after travelling ``distance`` back and forth along ``[0, span]``."""
    if span <= 0:
        return 0
    phase = distance % (2 * span)
    return phase if phase <= span else 2 * span - phase
