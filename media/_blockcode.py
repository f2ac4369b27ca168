"""Machine-readable frame counter: one row of large black and white blocks.

Everything is placed in fractions of the frame, so the code survives scaling. The frame is cut into
``COLUMNS`` columns and ``ROWS`` rows; row ``CODE_ROW`` holds ``BLOCKS`` square-ish blocks starting at
column ``FIRST_COLUMN``::

    white, black, 24 data bits (most significant first, white = 1), even parity, black

At 640x480 each block is 20x20 pixels. The two leading guards give the reader its white and black
levels; the reader averages only the middle half of each block in the luma plane, so blur at block
edges, chroma subsampling and blocking artefacts from lossy codecs do not flip bits.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

COLUMNS = 32
ROWS = 24
CODE_ROW = 22
FIRST_COLUMN = 2
DATA_BITS = 24
BLOCKS = 2 + DATA_BITS + 2
MAX_COUNTER = (1 << DATA_BITS) - 1

_MIN_CONTRAST = 64.0  # luma levels between the white and black guards
_DECISION_MARGIN = 0.25  # a block must sit this far (fraction of contrast) from the midpoint
_SAMPLE_INSET = 0.25  # sample the middle half of each block


def code_bits(counter: int) -> list[int]:
    """The block colours (1 = white) that encode ``counter`` modulo 2**24."""
    value = counter & MAX_COUNTER
    data = [(value >> (DATA_BITS - 1 - i)) & 1 for i in range(DATA_BITS)]
    return [1, 0, *data, sum(data) % 2, 0]


def block_box(index: int, width: int, height: int, inset: float = 0.0) -> tuple[int, int, int, int]:
    """Pixel bounds ``(y0, y1, x0, x1)`` of block ``index`` in a ``width`` x ``height`` frame."""
    column = FIRST_COLUMN + index
    x0 = round((column + inset) * width / COLUMNS)
    x1 = round((column + 1 - inset) * width / COLUMNS)
    y0 = round((CODE_ROW + inset) * height / ROWS)
    y1 = round((CODE_ROW + 1 - inset) * height / ROWS)
    return y0, y1, x0, x1


def draw_code(image: NDArray[np.uint8], counter: int) -> None:
    """Paint the code for ``counter`` into an RGB ``image`` (height x width x 3), in place."""
    height, width = image.shape[:2]
    for index, bit in enumerate(code_bits(counter)):
        y0, y1, x0, x1 = block_box(index, width, height)
        image[y0:y1, x0:x1] = 255 if bit else 0


def read_code(luma: NDArray[np.uint8]) -> int | None:
    """Decode the counter from a luma plane, or None if no valid code is present."""
    levels = _block_levels(luma)
    if levels is None:
        return None
    white, black = levels[0], levels[1]
    contrast = white - black
    if contrast < _MIN_CONTRAST:
        return None
    middle = (white + black) / 2
    if any(abs(level - middle) < _DECISION_MARGIN * contrast for level in levels):
        return None
    bits = [int(level > middle) for level in levels]
    data, parity, end_guard = bits[2 : 2 + DATA_BITS], bits[-2], bits[-1]
    if end_guard != 0 or sum(data) % 2 != parity:
        return None
    return int("".join(map(str, data)), 2)


def _block_levels(luma: NDArray[np.uint8]) -> list[float] | None:
    height, width = luma.shape[:2]
    levels = []
    for index in range(BLOCKS):
        y0, y1, x0, x1 = block_box(index, width, height, _SAMPLE_INSET)
        if y1 <= y0 or x1 <= x0:
            return None  # frame too small to carry the code
        levels.append(float(luma[y0:y1, x0:x1].mean()))
    return levels
