// The queue board's data: GET /api/queues every few seconds, but only while someone on the page looks at
// it (the board is open, or the transfer form needs the queues and free agents) and the tab is visible.
// One request at a time; the next is scheduled when the last one has answered, so timers never pile up.

import { ApiError, queueBoard } from "./api.js";

const POLL_MS = 3000;

/**
 * @typedef {{queues: import("./api.js").BoardQueue[], fetchedAt: number}} Snapshot
 *   `fetchedAt` is performance.now() when the answer arrived (waits tick on from there).
 */

export class QueueFeed {
  /** @param {{onSignedOut: () => void}} hooks */
  constructor({ onSignedOut }) {
    this.onSignedOut = onSignedOut;
    /** @type {Snapshot|null} */
    this.snapshot = null;
    /** @type {string|null} why the last poll failed, null when it answered */
    this.problem = null;
    /** @type {Set<(snapshot: Snapshot|null, problem: string|null) => void>} */
    this.listeners = new Set();
    /** @type {Set<string>} who needs fresh data now */
    this.wanted = new Set();
    this.running = false;
    this.timer = 0;
    /** @type {Promise<Snapshot|null>|null} */
    this.inFlight = null;
    document.addEventListener("visibilitychange", () => this.#schedule(0));
  }

  /** @param {(snapshot: Snapshot|null, problem: string|null) => void} listener */
  subscribe(listener) {
    this.listeners.add(listener);
  }

  /** Whether a poll is scheduled or under way (for tests: no timer outlives its need). */
  get polling() {
    return this.timer !== 0 || this.inFlight !== null;
  }

  /** Start polling (after sign-in). */
  start() {
    this.running = true;
    this.#schedule(0);
  }

  /** Stop polling and forget the data (sign-out). */
  stop() {
    this.running = false;
    this.wanted.clear();
    clearTimeout(this.timer);
    this.timer = 0;
    this.snapshot = null;
    this.problem = null;
  }

  /** Whether `who` needs the data now; polling runs while anyone does. @param {string} who @param {boolean} on */
  want(who, on) {
    const before = this.#active();
    if (on) this.wanted.add(who);
    else this.wanted.delete(who);
    if (this.#active() && !before) this.#schedule(0);
    if (!this.#active()) {
      clearTimeout(this.timer);
      this.timer = 0;
    }
  }

  /** Fetch now (e.g. right after a supervisor's action); resolves with the new snapshot. */
  refresh() {
    clearTimeout(this.timer);
    this.timer = 0;
    return this.#poll();
  }

  /** Something on the board has surely changed (this agent's own state): fetch now if anyone is looking. */
  nudge() {
    if (this.#active()) this.refresh();
  }

  #active() {
    return this.running && this.wanted.size > 0 && document.visibilityState !== "hidden";
  }

  #schedule(delay) {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.#active()) this.timer = setTimeout(() => this.#poll(), delay);
  }

  #poll() {
    if (!this.running) return Promise.resolve(null);
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.#fetch().finally(() => {
      this.inFlight = null;
      this.#schedule(POLL_MS);
    });
    return this.inFlight;
  }

  async #fetch() {
    try {
      const data = await queueBoard();
      if (!this.running) return null;
      this.snapshot = { queues: data.queues ?? [], fetchedAt: performance.now() };
      this.problem = null;
    } catch (error) {
      if (!this.running) return null;
      if (error instanceof ApiError && error.status === 401) {
        this.stop();
        this.onSignedOut();
        return null;
      }
      this.problem = error instanceof ApiError ? error.message : String(error);
    }
    for (const listener of this.listeners) listener(this.snapshot, this.problem);
    return this.snapshot;
  }
}
