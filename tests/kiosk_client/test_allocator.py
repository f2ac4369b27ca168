"""The kiosk's malloc settings give freed video frames back to the system (a long call's RSS stays flat)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kiosk_client.allocator import tune_allocator

# A call's pattern in miniature: ~1 MiB frames come and go while smaller long-lived blocks are made between
# them (a freed mapped frame first, as a decoder's would be, which raises glibc's default threshold).
CHILD = """
import sys
from pathlib import Path
from kiosk_client.allocator import tune_allocator

def rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

applied = tune_allocator({}) if sys.argv[1] == "tuned" else False
frame = b"f" * (1 << 20)
del frame
before = rss_mib()
frames, kept = [], []
for _ in range(100):
    frames.append(b"f" * (1 << 20))
    kept.append(b"k" * 100_000)
del frames
print(applied, round(rss_mib() - before, 1))
"""


def _retained_mib(mode: str) -> tuple[bool, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc, Linux's /proc")
def test_freed_frames_go_back_to_the_system_once_the_kiosk_tunes_malloc() -> None:
    applied, retained = _retained_mib("tuned")
    assert applied
    # the 100 long-lived 100 kB blocks (~9.5 MiB) stay; the 100 MiB of frames do not
    assert retained < 20
    # without the settings the same program keeps the frames' memory (what the soak showed)
    untuned_applied, untuned = _retained_mib("plain")
    assert not untuned_applied
    assert untuned > 60


def test_an_operators_own_malloc_settings_are_kept() -> None:
    assert tune_allocator({"MALLOC_ARENA_MAX": "4"}) is False
