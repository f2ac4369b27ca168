"""What the kiosk reports about itself every few seconds: its devices, network, CPU and host faults.

- Camera and microphone: synthetic sources are always present and working. Real devices (``--media
  device``) are present when their device node exists (ALSA names have none: present when they open) and
  working while the source opened from them delivers (a failed or unplugged device ends its track).
- Network: the kind of the interface that carries the default route (Linux ``/proc`` and ``/sys``);
  omitted when it cannot be told.
- CPU: the machine's, all cores together, between two reports (Linux ``/proc/stat``); omitted elsewhere.
- Host faults: the kiosk's host application (the ATM's own software) writes its current faults to a file,
  one per line (``--faults-file``); the kiosk reads it at every report. No file, or an empty one: no faults.
  Blank lines and lines starting with ``#`` are ignored; at most 16 faults of 200 characters are sent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from media import DeviceUnavailable, MediaSource
from signaling.protocol import MAX_FAULTS, DeviceHealth, NetworkInfo, NetworkKind

log = logging.getLogger(__name__)

MAX_FAULT_CHARS = 200
WORKING = DeviceHealth(present=True, working=True)


def device_health(
    media: Literal["synthetic", "device"],
    source: MediaSource | None,
    failures: dict[str, DeviceUnavailable],
    devices: tuple[str, str],
) -> tuple[DeviceHealth, DeviceHealth]:
    """The camera's and microphone's health: ``source`` is the open media (None when opening failed),
    ``failures`` why each device that failed to open did ("video", "audio"), ``devices`` their names."""
    live = source.live if source is not None else (False, False)
    return (
        _one(media, live[0], failures.get("video"), devices[0]),
        _one(media, live[1], failures.get("audio"), devices[1]),
    )


def _one(media: str, live: bool, failure: DeviceUnavailable | None, device: str) -> DeviceHealth:
    if media == "synthetic" or live:
        return WORKING
    # a device node is present when it exists; a named (ALSA) device, when it opened
    present = Path(device).exists() if device.startswith("/") else failure is None
    detail = failure.reason if failure is not None else "it stopped delivering"
    return DeviceHealth(present=present, working=False, detail=detail[:MAX_FAULT_CHARS])


class CpuMeter:
    """The machine's CPU use between two calls of ``sample`` (None where /proc/stat is not readable)."""

    def __init__(self, stat: Path = Path("/proc/stat")) -> None:
        self._stat = stat
        self._last = self._read()

    def _read(self) -> tuple[int, int] | None:
        try:
            first = self._stat.read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        if not first or first[0] != "cpu":
            return None
        ticks = [int(value) for value in first[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        return sum(ticks), idle

    def sample(self) -> float | None:
        now, last = self._read(), self._last
        self._last = now
        if now is None or last is None or now[0] <= last[0]:
            return None
        busy = 1 - (now[1] - last[1]) / (now[0] - last[0])
        return round(min(100.0, max(0.0, busy * 100)), 1)


def network_info(
    proc: Path = Path("/proc/net/route"), sys_net: Path = Path("/sys/class/net")
) -> NetworkInfo | None:
    """The kind of the interface of the default route, or None when there is none or it cannot be read."""
    try:
        lines = proc.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":  # destination 0.0.0.0: the default route
            return NetworkInfo(kind=_kind(fields[0], sys_net / fields[0]), interface=fields[0][:32])
    return None


def _kind(name: str, device: Path) -> NetworkKind:
    if (device / "wireless").exists() or (device / "phy80211").exists():
        return "wifi"
    if name.startswith(("wwan", "ppp", "rmnet", "usb")):
        return "cellular"
    if name.startswith(("tun", "tap", "wg", "vpn", "ipsec")):
        return "vpn"
    try:
        link_type = (device / "type").read_text().strip()
    except OSError:
        return "other"
    return "ethernet" if link_type == "1" else "other"  # 1: ARPHRD_ETHER


def read_faults(path: Path | None) -> list[str]:
    """The host's current faults from ``path`` (one a line); none when there is no such file."""
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("cannot read the host's faults file %s: %s", path, exc.strerror)
        return [f"kiosk cannot read its host's faults file ({exc.strerror})"]
    lines = (line.strip() for line in text.splitlines())
    faults = [line[:MAX_FAULT_CHARS] for line in lines if line and not line.startswith("#")]
    return faults[:MAX_FAULTS]
