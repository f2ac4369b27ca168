"""The kiosk's resume point on disk, so that a restarted program (after a crash) resumes its session.

The file holds the server's resume token and the last numbered message handled, for one server and
kiosk id, and the call in progress with its ICE servers (the restarted program offers media again).
It is replaced atomically (written beside, flushed, renamed): a crash mid-write leaves the
previous version. The server keeps a dropped session for its reconnect grace (30 s); a token older than
that simply yields a new session, so a stale file does no harm.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

import msgspec

from signaling.protocol import IceServer

log = logging.getLogger(__name__)


class CallMedia(msgspec.Struct, forbid_unknown_fields=True):
    """The call whose media was flowing, and how to reach the agent again (its ICE servers)."""

    call_id: str
    ice_servers: list[IceServer]
    ice_transport_policy: str = "all"


class ResumePoint(msgspec.Struct, forbid_unknown_fields=True):
    server: str
    kiosk_id: str
    resume_token: str
    last_seq: int
    call: CallMedia | None = None
    """A call in progress: a restarted program offers its media again at once."""


class ResumeState:
    """One kiosk's state file (``state_file`` in the config, ``--state-file``)."""

    def __init__(self, path: Path, server: str, kiosk_id: str) -> None:
        self.path = path
        self._server = server
        self._kiosk_id = kiosk_id
        self._saved: tuple[str, int] | None = None
        self.call: CallMedia | None = None

    def load(self) -> ResumePoint | None:
        """The saved point of this server and kiosk; None when absent, unreadable or someone else's."""
        try:
            point = msgspec.json.decode(self.path.read_bytes(), type=ResumePoint)
        except FileNotFoundError:
            return None
        except (OSError, msgspec.DecodeError) as exc:
            log.warning("ignoring the state file %s: %s", self.path, exc)
            return None
        if (point.server, point.kiosk_id) != (self._server, self._kiosk_id):
            return None
        return point

    def save(self, resume_token: str, last_seq: int) -> None:
        self._saved = (resume_token, last_seq)
        point = ResumePoint(self._server, self._kiosk_id, resume_token, last_seq, self.call)
        _write_atomically(self.path, msgspec.json.encode(point))

    def call_changed(self, call: CallMedia | None) -> None:
        """A call's media started (or the call ended): keep it with the resume point."""
        self.call = call
        if self._saved is not None:
            self.save(*self._saved)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
