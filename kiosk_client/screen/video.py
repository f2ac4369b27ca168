"""A widget that shows the newest frame of a video source, scaled to fit and centred.

The window's refresh timer calls ``refresh()`` a dozen times a second; each call takes only the latest
frame (``LatestFrameConsumer.latest``), so a slow screen skips frames instead of falling behind. Frames
are scaled to the widget's size by FFmpeg (swscale) before they become a ``QImage``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from av import VideoFrame
from av.video.reformatter import VideoReformatter
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

FrameSource = Callable[[], object | None]


def to_image(frame: VideoFrame, width: int, height: int, reformatter: VideoReformatter) -> QImage:
    """``frame`` scaled to fit ``width`` by ``height`` (aspect kept) as an RGB image. The caller's own
    ``reformatter``: the camera's frames are shared with the call's encoder, which converts them on another
    thread, and ``frame.reformat`` would share one converter with it."""
    scale = min(width / frame.width, height / frame.height)
    w, h = max(2, int(frame.width * scale) // 2 * 2), max(2, int(frame.height * scale) // 2 * 2)
    rgb = np.ascontiguousarray(reformatter.reformat(frame, width=w, height=h, format="rgb24").to_ndarray())
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: the array goes away


class VideoView(QWidget):
    def __init__(self, source: FrameSource, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._image: QImage | None = None
        self._shown: object | None = None
        self._reformatter = VideoReformatter()
        self.placeholder = placeholder
        """Shown instead of a picture (an empty string: the last picture stays)."""
        self.frames_shown = 0
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_source(self, source: FrameSource) -> None:
        self._source, self._image, self._shown = source, None, None
        self.update()

    def refresh(self) -> None:
        frame = self._source()
        if frame is self._shown:
            return
        self._shown = frame
        if isinstance(frame, VideoFrame) and self.width() > 1 and self.height() > 1:
            self._image = to_image(frame, self.width(), self.height(), self._reformatter)
            self.frames_shown += 1
        elif frame is None:
            self._image = None
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#000000"))
        if self.placeholder or self._image is None:
            painter.setPen(QColor("#ffffff"))
            font = QFont(self.font())
            font.setPointSize(max(16, self.height() // 18))
            painter.setFont(font)
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder
            )
            return
        image = self._image
        x, y = (self.width() - image.width()) // 2, (self.height() - image.height()) // 2
        painter.drawImage(QRect(x, y, image.width(), image.height()), image)
