// The dashboard's live feed: Server-Sent Events from /api/dashboard/stream. The browser's EventSource
// reconnects by itself after a dropped connection (the server sets the delay); a refused one (the session
// ended, the server said 401/403) is not retried by the browser, so the feed asks who is signed in and
// either reports the sign-out or tries again a little later.

import { whoAmI } from "./api.js";

const STREAM = "/api/dashboard/stream";
const RETRY_AFTER_REFUSAL_MS = 5000;

/** @typedef {"connecting"|"live"|"reconnecting"|"unavailable"} FeedStatus */

export class DashboardFeed {
  /**
   * @param {{onSnapshot: (snapshot: any) => void, onStatus: (status: FeedStatus, note?: string) => void,
   *          onSignedOut: (message: string) => void}} handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    /** @type {EventSource|null} */
    this.source = null;
    this.retryTimer = 0;
  }

  start() {
    this.stop();
    this.handlers.onStatus("connecting");
    const source = new EventSource(STREAM);
    this.source = source;
    source.addEventListener("snapshot", (event) => {
      this.handlers.onStatus("live");
      this.handlers.onSnapshot(JSON.parse(/** @type {MessageEvent} */ (event).data));
    });
    source.addEventListener("unavailable", (event) => {
      this.handlers.onStatus("unavailable", JSON.parse(/** @type {MessageEvent} */ (event).data).message);
    });
    source.addEventListener("signed_out", (event) => {
      this.stop();
      this.handlers.onSignedOut(JSON.parse(/** @type {MessageEvent} */ (event).data).message);
    });
    source.addEventListener("error", () => this.#lost(source));
  }

  stop() {
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
  }

  /** @param {EventSource} source */
  async #lost(source) {
    if (source !== this.source) return;
    if (source.readyState === EventSource.CONNECTING) {
      this.handlers.onStatus("reconnecting"); // the browser retries by itself
      return;
    }
    this.stop(); // refused: find out why before trying again
    this.handlers.onStatus("reconnecting");
    let me;
    try {
      me = await whoAmI();
    } catch {
      me = undefined; // the server cannot be reached: try again later
    }
    if (me === null) {
      this.handlers.onSignedOut("Your session has ended. Sign in again.");
      return;
    }
    this.retryTimer = window.setTimeout(() => this.start(), RETRY_AFTER_REFUSAL_MS);
  }
}
