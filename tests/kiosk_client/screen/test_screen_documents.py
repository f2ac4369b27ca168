"""A document the agent names by address is fetched from the service the kiosk is signed in to, and only
from there: a page, its kind, and a readable refusal of anything else."""

from __future__ import annotations

import pytest

from kiosk_client.screen.documents import DocumentError, document_url, fetch_document
from tests.support import RunningServer


async def test_a_page_of_the_service_is_fetched_and_anything_else_refused_with_the_reason(
    server: RunningServer,
) -> None:
    body, html = await fetch_document(server.url, "/")
    assert html
    assert "<title>Kiosk Assist · Agent console</title>" in body
    with pytest.raises(DocumentError, match="answered 404"):
        await fetch_document(server.url, "/documents/no-such-page.html")
    with pytest.raises(DocumentError, match="application/json, not a document"):
        await fetch_document(server.url, "/healthz")


def test_only_a_path_on_the_service_itself_is_accepted() -> None:
    assert document_url("wss://assist.bank.example/", "/fees.html") == "https://assist.bank.example/fees.html"
    for elsewhere in ("//evil.example/fees.html", "https://evil.example/fees.html", "fees.html"):
        with pytest.raises(DocumentError, match="a path on the service"):
            document_url("https://assist.bank.example", elsewhere)
