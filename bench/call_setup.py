"""Call set-up time: the agent's accept → the first decoded remote frame in the agent's Chromium.

(a) product: the whole product — server, kiosk program (aiortc, synthetic video), agent console in headless
    Chromium; the clock starts when the agent clicks Accept.
(b) direct: the same aiortc source and the same Chromium connected with no signaling server (SDP handed
    over in-process); the clock starts when the page is told to start. This is the floor.

Run: ``python -m bench.call_setup [--calls N] [--json]``. Reports medians and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from playwright.async_api import Browser, Page, async_playwright

from bench.browser import CHROMIUM, CHROMIUM_ARGS, FIRST_FRAME_PROBE
from bench.servers import free_port, served
from kiosk_client.session import KioskOptions, KioskRunner
from media import open_media

WAIT_MS = 20_000
DIRECT_PAGE = """<!doctype html><html><body><video id="remote" autoplay playsinline muted></video><script>
// the camera opens when the page loads, before the clock starts, as the console opens it while ringing
window.media = navigator.mediaDevices.getUserMedia({video: true, audio: true});
window.answer = async (offerSdp) => {
  const media = await window.media;
  const pc = new RTCPeerConnection({iceServers: []});
  window.pc = pc;
  pc.ontrack = (e) => {
    const v = document.getElementById('remote');
    if (!v.srcObject) v.srcObject = e.streams[0];
  };
  await pc.setRemoteDescription({type: 'offer', sdp: offerSdp});
  media.getTracks().forEach((t) => pc.addTrack(t, media));
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise((r) => { if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
  return pc.localDescription.sdp;
};
</script></body></html>"""


async def _product(browser: Browser, calls: int) -> list[float]:
    """The product as deployed: ``kiosk-assist serve`` in its own process; the kiosk program here."""
    data_dir = Path(tempfile.mkdtemp(prefix="ka-bench-"))
    async with served(data_dir) as (url, cli):
        await cli("users", "add", "bench", "--role", "agent", "--skills", "cash", "--password-stdin",
                  stdin="bench-password\n")  # fmt: skip
        secret = json.loads(
            await cli("kiosks", "enroll", "bench-kiosk", "--location", "Bench lab", "--json")
        )["secret"]
        page = await browser.new_page()
        await page.goto(url)
        await page.add_script_tag(content=FIRST_FRAME_PROBE)
        await page.get_by_test_id("login-username").fill("bench")
        await page.get_by_test_id("login-password").fill("bench-password")
        await page.get_by_test_id("login-submit").click()
        await page.get_by_test_id("state-available").click()
        source = open_media("synthetic")
        try:
            return [await _one_product_call(page, url, secret, source) for _ in range(calls)]
        finally:
            await source.close()


async def _one_product_call(page: Page, url: str, secret: str, source: Any) -> float:
    options = KioskOptions(server=url, kiosk_id="bench-kiosk", secret=secret, request_help="cash")
    kiosk = KioskRunner(options, source=source)
    task = asyncio.create_task(kiosk.run())
    try:
        await page.get_by_test_id("accept-call").wait_for(state="visible", timeout=WAIT_MS)
        await page.evaluate("window.__probe.arm('remote-video', 'accept-call')")
        await page.get_by_test_id("accept-call").click()
        elapsed = await (
            await page.wait_for_function("window.__probe.elapsed()", timeout=WAIT_MS)
        ).json_value()
        await page.get_by_test_id("hangup").click()
        await asyncio.wait_for(task, 20)
        await page.get_by_test_id("disposition-select").select_option(index=1)
        await page.get_by_test_id("wrapup-submit").click()
        await page.wait_for_function(
            "document.querySelector('[data-testid=agent-state]').textContent.trim() === 'available'",
            timeout=WAIT_MS,
        )
        return float(elapsed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _direct(browser: Browser, calls: int) -> list[float]:
    """The floor: a static page on localhost (a secure context, as the console is), no signaling server."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=DIRECT_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        return await _direct_calls(browser, f"http://127.0.0.1:{port}/", calls)
    finally:
        await runner.cleanup()


async def _direct_calls(browser: Browser, url: str, calls: int) -> list[float]:
    source = open_media("synthetic")
    page = await browser.new_page()
    results = []
    try:
        for _ in range(calls):
            await page.goto(url)  # a fresh page state per call, same browser
            await page.evaluate("window.media")
            await page.add_script_tag(content=FIRST_FRAME_PROBE)
            await page.evaluate("window.__probe.arm('remote')")
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            tracks = [source.subscribe_video(), source.subscribe_audio()]
            for track in tracks:
                pc.addTrack(track)
            pc.createDataChannel("chat")
            await pc.setLocalDescription(await pc.createOffer())
            answer = await page.evaluate("(sdp) => window.answer(sdp)", pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            elapsed = await (
                await page.wait_for_function("window.__probe.elapsed()", timeout=WAIT_MS)
            ).json_value()
            results.append(float(elapsed))
            await page.evaluate("window.pc.close()")
            await pc.close()
            for track in tracks:
                track.stop()
    finally:
        await page.close()
        await source.close()
    return results


async def run(calls: int) -> dict[str, Any]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            direct = await _direct(browser, calls)
            product = await _product(browser, calls)
        finally:
            await browser.close()
    product_median, direct_median = statistics.median(product), statistics.median(direct)
    return {
        "product_ms_median": round(product_median, 1),
        "direct_ms_median": round(direct_median, 1),
        "ratio": round(product_median / direct_median, 3),
        "calls": calls,
        "product_ms": [round(x, 1) for x in product],
        "direct_ms": [round(x, 1) for x in direct],
        "run": uuid.uuid4().hex[:8],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.call_setup", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="calls per path (at least 10 for the record)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    result = asyncio.run(run(args.calls))
    if args.json:
        print(json.dumps({k: result[k] for k in ("product_ms_median", "direct_ms_median", "ratio", "calls")}))
    else:
        print(f"calls per path:        {result['calls']}")
        print(f"product (accept→frame) median: {result['product_ms_median']} ms   {result['product_ms']}")
        print(f"direct  (no server)    median: {result['direct_ms_median']} ms   {result['direct_ms']}")
        print(f"ratio:                 {result['ratio']}  (target ≤ 1.25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
