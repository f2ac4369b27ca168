// The IT and supervisors' dashboard: sign-in (the console's), then one live stream of snapshots drawn into
// the summary strip, the live calls, the queue board, the open alerts and the fleet, without reloads. A
// call's timeline opens on request. Agents are refused (the server refuses them the page and the stream).

import { logout, whoAmI } from "./api.js";
import { CallTimeline } from "./calltimeline.js";
import { DashboardFeed } from "./dashfeed.js";
import { renderAlerts, renderFleet, renderQueues, renderSummary } from "./dashviews.js";
import { renderCalls } from "./livecalls.js";
import { SignIn } from "./signin.js";
import { byId, showScreen } from "./ui.js";

const MONITORS = new Set(["supervisor", "admin", "it"]);
const STALE_AFTER_MS = 6000;
const STATUS_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  unavailable: "Data unavailable",
  stale: "No update",
};

let latest = null;
let receivedAt = 0;
let status = "connecting";
let statusNote = "";

const timeline = new CallTimeline(
  /** @type {HTMLDialogElement} */ (byId("call-timeline")),
  () => latest?.limits ?? { poor_mos: 3.1, poor_video: 2.5 },
);
const openTimeline = (callId) => timeline.open(callId);

const feed = new DashboardFeed({
  onSnapshot(snapshot) {
    latest = snapshot;
    receivedAt = Date.now();
    draw(snapshot);
  },
  onStatus(next, note = "") {
    status = next;
    statusNote = next === "unavailable" ? note : "";
    showStatus();
  },
  onSignedOut(message) {
    signIn.show(message, "info");
  },
});

const signIn = new SignIn(open);

/** Draw each part; one failing part must not stop the others from updating. */
function draw(snapshot) {
  for (const [id, render] of [
    ["dashboard-summary", renderSummary],
    ["dashboard-calls", (root, s) => renderCalls(root, s, openTimeline)],
    ["dashboard-queues", renderQueues],
    ["dashboard-alerts", (root, s) => renderAlerts(root, s, openTimeline)],
    ["dashboard-fleet", renderFleet],
  ]) {
    try {
      render(byId(id), snapshot);
    } catch (error) {
      console.error(`the dashboard could not draw ${id}`, error);
    }
  }
  showStatus();
}

function showStatus() {
  const stale = status === "live" && Date.now() - receivedAt > STALE_AFTER_MS;
  const shown = stale ? "stale" : status;
  const pill = byId("feed-status");
  pill.dataset.status = shown;
  byId("feed-status-text").textContent = STATUS_TEXT[shown];
  const updated = latest ? `updated ${new Date(latest.at_ms).toLocaleTimeString()}` : "";
  byId("feed-status-note").textContent = statusNote || updated;
  byId("console-view").dataset.stale = String(shown !== "live");
}

/** @param {{username: string, role: string, display_name?: string}} me */
function open(me) {
  if (!MONITORS.has(me.role)) {
    feed.stop();
    byId("signin-view").hidden = true;
    byId("console-view").hidden = true;
    byId("dashboard-forbidden").hidden = false;
    return;
  }
  byId("dashboard-forbidden").hidden = true;
  byId("dashboard-user").textContent = `${me.display_name || me.username} · ${me.role}`;
  showScreen("console-view");
  feed.start();
}

byId("dashboard-signout").addEventListener("click", async () => {
  feed.stop();
  await logout().catch(() => {});
  signIn.show("You are signed out.", "info");
});
window.setInterval(() => showStatus(), 1000);

whoAmI().then(
  (me) => (me === null ? signIn.show() : open(me)),
  (error) => signIn.show(error.message),
);
