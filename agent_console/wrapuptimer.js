// The wrap-up's clock: how long until the server files the wrap-up on its own, and "More time" (once a call).

import { byId, formatDuration } from "./ui.js";

const TICK_MS = 250;
/** The clock turns red for the last 15 s (or the last quarter of a shorter allowance). */
const URGENT_S = 15;

export class WrapUpTimer {
  /** @param {(callId: string) => boolean} extend asks the server for more time; false when not sent */
  constructor(extend) {
    this.callId = "";
    /** performance.now() at which the server ends the wrap-up */
    this.deadline = 0;
    /** the length of the current allowance (for the bar), seconds */
    this.total = 1;
    /** the call whose wrap-up was extended (the server grants it once per call) */
    this.extendedCallId = "";
    this.timer = 0;
    this.box = byId("wrapup-timer");
    this.countdown = byId("wrapup-countdown");
    this.button = /** @type {HTMLButtonElement} */ (byId("wrapup-extend"));
    this.button.addEventListener("click", () => {
      if (!this.callId || this.extendedCallId === this.callId) return;
      if (!extend(this.callId)) return;
      this.extendedCallId = this.callId;
      this.button.disabled = true;
      this.button.textContent = "Asking for more time…";
    });
  }

  /** Seconds left before the server ends the wrap-up (0 when no wrap-up is timed). */
  get secondsLeft() {
    return this.callId ? Math.max(0, (this.deadline - performance.now()) / 1000) : 0;
  }

  /**
   * The server's word on the wrap-up's end; given with every `agent_state` in wrap-up.
   * @param {string} callId @param {number|null|undefined} endsInS
   * @param {boolean|null|undefined} extendable false once the call's one extension is used (the server
   *   says so, so a reloaded console knows too)
   */
  show(callId, endsInS, extendable) {
    if (endsInS === null || endsInS === undefined) {
      this.stop();
      return;
    }
    const newCall = callId !== this.callId;
    const before = this.secondsLeft;
    this.callId = callId;
    this.deadline = performance.now() + endsInS * 1000;
    if (newCall || endsInS > before + 1) this.total = Math.max(1, endsInS); // a new allowance
    if (extendable === false) this.extendedCallId = callId;
    const extended = this.extendedCallId === callId;
    this.button.disabled = extended;
    this.button.textContent = extended ? "Time extended" : "More time";
    this.button.title = extended ? "More time can be asked for once per call." : "";
    this.box.hidden = false;
    if (!this.timer) this.timer = setInterval(() => this.#tick(), TICK_MS);
    this.#tick();
  }

  /** The server refused more time (already extended, or the wrap-up is over). */
  refused() {
    this.button.disabled = true;
    this.button.textContent = "No more time";
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
    this.callId = "";
    this.box.hidden = true;
  }

  #tick() {
    const left = this.secondsLeft;
    this.countdown.textContent = left > 0 ? formatDuration(Math.ceil(left)) : "00:00";
    byId("wrapup-timer-text").textContent =
      left > 0 ? "Wrap-up closes automatically in" : "Closing the wrap-up…";
    byId("wrapup-timer-fill").style.setProperty("--left", String(Math.min(1, left / this.total)));
    this.box.dataset.urgent = String(left <= Math.min(URGENT_S, this.total / 4));
  }
}
