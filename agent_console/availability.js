// The agent's availability in the header: the state pill and its reason, the state asked for next (kept by
// the server while the agent is busy and applied when the work ends), and the Available / Away controls.

import { BUSY_STATES } from "./protocol.js";
import { byId, humanize } from "./ui.js";

/** When a state asked for during busy work takes effect, by the current state. */
const APPLIES = Object.freeze({
  ringing: "after this call",
  in_call: "after this call",
  wrap_up: "after wrap-up",
});

/** "away:lunch" → "Away (lunch)", "offline" → "Offline"; "" when nothing is pending. */
export function describeNextState(next) {
  if (!next) return "";
  const [state, ...rest] = String(next).split(":");
  const reason = rest.join(":");
  return reason ? `${humanize(state)} (${reason})` : humanize(state);
}

export class Availability {
  /** @param {(state: "available"|"away", reason?: string) => void} choose asks the server for a state */
  constructor(choose) {
    this.state = "offline";
    this.nextState = "";
    this.pill = byId("agent-state");
    this.reasonTag = byId("agent-state-reason");
    this.next = byId("next-state");
    this.nextText = byId("next-state-text");
    this.available = /** @type {HTMLButtonElement} */ (byId("state-available"));
    this.away = /** @type {HTMLButtonElement} */ (byId("state-away"));
    this.awayReason = /** @type {HTMLSelectElement} */ (byId("away-reason"));
    this.available.addEventListener("click", () => choose("available"));
    this.away.addEventListener("click", () => choose("away", this.awayReason.value));
    // while away (or about to be), a different reason is a new away: it is what supervisors see
    this.awayReason.addEventListener("change", () => {
      if (this.state === "away" || this.nextState.startsWith("away")) choose("away", this.awayReason.value);
    });
    byId("next-state-cancel").addEventListener("click", () => choose("available"));
  }

  /**
   * @param {{state: string, reason?: string, nextState?: string|null}} status
   */
  render({ state, reason = "", nextState = "" }) {
    this.state = state;
    this.nextState = nextState ?? "";
    this.pill.textContent = state;
    this.pill.dataset.state = state;
    const shownReason = state === "away" && reason && reason !== "signed in" ? reason : "";
    this.reasonTag.textContent = shownReason;
    this.reasonTag.hidden = !shownReason;

    const busy = BUSY_STATES.includes(state);
    const pending = busy ? describeNextState(nextState) : "";
    this.nextText.textContent = pending ? `${pending} ${APPLIES[state]}` : "";
    this.next.hidden = !pending;

    this.available.setAttribute("aria-pressed", String(state === "available"));
    this.away.setAttribute("aria-pressed", String(state === "away"));
    // while busy, Away is kept by the server as the next state; Available would only cancel that
    this.available.disabled = busy;
    this.away.title = busy ? "Go away once the work on this call is done" : "Stop receiving calls";
  }
}
