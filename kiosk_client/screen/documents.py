"""Documents the agent shows on the kiosk by address: fetched from the service's own origin only.

``show_document`` may name a path (``/documents/fees.html``) instead of carrying the text; the kiosk fetches
it from the server it is signed in to (never another host), at most ``MAX_BYTES``, as HTML or plain
text. The screen shows HTML in a rich-text view that runs no scripts and loads nothing else.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from kiosk_client.signaling_client import client_tls

MAX_BYTES = 256 * 1024
FETCH_TIMEOUT_S = 10.0


class DocumentError(Exception):
    pass


def document_url(server: str, path: str) -> str:
    if not path.startswith("/") or path.startswith("//"):
        raise DocumentError(f"a document's address is a path on the service: {path!r}")
    base = server.rstrip("/")
    for ws, http in (("wss://", "https://"), ("ws://", "http://")):
        if base.startswith(ws):
            base = http + base[len(ws) :]
    return base + path


async def fetch_document(server: str, path: str, ca_file: Path | None = None) -> tuple[str, bool]:
    """The document's text and whether it is HTML; ``DocumentError`` if it cannot be had."""
    url = document_url(server, path)
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(url, ssl=client_tls(ca_file) or True, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise DocumentError(f"{url} answered {response.status}")
            if response.content_type not in ("text/html", "text/plain"):
                raise DocumentError(f"{url} is {response.content_type}, not a document")
            body = await response.content.read(MAX_BYTES + 1)
            if len(body) > MAX_BYTES:
                raise DocumentError(f"{url} is larger than {MAX_BYTES // 1024} KiB")
            return body.decode(response.charset or "utf-8", "replace"), response.content_type == "text/html"
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DocumentError(f"{url}: {exc or 'timed out'}") from None
