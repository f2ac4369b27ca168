"""The kiosk's resume point on disk, so that a restarted program (after a crash) resumes its session.

The file holds the server's resume token and the last numbered message handled, for one server and
kiosk id. It is replaced atomically (written beside, flushed, renamed): a crash mid-write leaves the
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

log = logging.getLogger(__name__)


class ResumePoint(msgspec.Struct, forbid_unknown_fields=True):
    server: str
    kiosk_id: str
    resume_token: str
    last_seq: int


class ResumeState:
    """One kiosk's state file (``state_file`` in the config, ``--state-file``)."""

    def __init__(self, path: Path, server: str, kiosk_id: str) -> None:
        self.path = path
        self._server = server
        self._kiosk_id = kiosk_id

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
        point = ResumePoint(self._server, self._kiosk_id, resume_token, last_seq)
        _write_atomically(self.path, msgspec.json.encode(point))

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
