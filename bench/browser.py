"""Headless Debian Chromium for benchmarks, with fake camera and microphone (no browser download)."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("KIOSK_ASSIST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
)

# Records, in page time, the first video frame presented by <video id=ID> after the clock starts: at arm(ID),
# or, with arm(ID, BUTTON), at the moment the button is really clicked (not when the click was asked for).
FIRST_FRAME_PROBE = """
window.__probe = {
  arm(id, buttonId) {
    const video = document.getElementById(id);
    const state = {start: buttonId ? null : performance.now(), first: null};
    window.__probe.state = state;
    if (buttonId) {
      document.getElementById(buttonId).addEventListener(
        'click', () => { state.start = performance.now(); }, {capture: true, once: true});
    }
    const onFrame = (now) => { if (state.first === null) state.first = now; };
    video.requestVideoFrameCallback(onFrame);
  },
  elapsed() {
    const s = window.__probe.state;
    return s && s.first !== null && s.start !== null ? s.first - s.start : null;
  },
};
"""
