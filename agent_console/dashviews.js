// The dashboard's views of a snapshot: the summary strip, the fleet, the queue board with the service level,
// and the open alerts. Each view keeps its elements from one snapshot to the next (keyed by id), so focus,
// hover and screen readers are not disturbed every 1.5 s; status is always given in words beside its colour.

import { gauge, stackedBar } from "./charts.js";

/** @param {string} tag @param {Object<string, string>} [attrs] @param {string} [text] */
export function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

/**
 * Make `container`'s children match `items` in order: reuse the element of each key, make new ones, drop
 * the rest. `fill` updates an element from its item.
 * @template T
 * @param {HTMLElement} container @param {T[]} items @param {(item: T) => string} keyOf
 * @param {(item: T) => HTMLElement} make @param {(node: HTMLElement, item: T) => void} fill
 */
export function keyed(container, items, keyOf, make, fill) {
  const existing = new Map();
  for (const child of Array.from(container.children)) {
    const key = /** @type {HTMLElement} */ (child).dataset.key;
    if (key !== undefined) existing.set(key, child);
    else child.remove();
  }
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    let node = existing.get(key);
    existing.delete(key);
    if (!node) {
      node = make(item);
      node.dataset.key = key;
    }
    fill(node, item);
    const wanted = previous ? previous.nextElementSibling : container.firstElementChild;
    if (wanted !== node) container.insertBefore(node, wanted);
    previous = node;
  }
  for (const node of existing.values()) node.remove();
}

/** "12 s ago", "3 min ago", "2 h ago", "never" @param {number|null} ms */
export function ago(ms) {
  if (ms === null || ms === undefined) return "never";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** "0:42", "12:05", "1:02:05" @param {number} seconds */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** Set the text of the element `[data-part=name]` inside `node`. */
export function part(node, name, text) {
  const target = node.querySelector(`[data-part="${name}"]`);
  if (target && target.textContent !== text) target.textContent = text;
  return target;
}

// ------------------------------------------------------------------------------------------ summary
const STATUS_ORDER = { offline: 0, degraded: 1, online: 2 };

/** The strip of headline figures at the top. */
export function renderSummary(root, snapshot) {
  const counts = { online: 0, degraded: 0, offline: 0 };
  for (const kiosk of snapshot.fleet) counts[kiosk.status] += 1;
  const waiting = snapshot.queues.reduce((sum, queue) => sum + queue.waiting, 0);
  const level = snapshot.service_level?.service_level ?? null;
  const critical = snapshot.alerts.filter((alert) => alert.severity === "critical").length;
  part(root, "kiosks", `${counts.online + counts.degraded} of ${snapshot.fleet.length}`);
  part(root, "kiosks-note", counts.offline ? `${counts.offline} offline` : "all reachable");
  root.querySelector('[data-part="kiosks-tile"]').dataset.tone = counts.offline ? "bad" : counts.degraded ? "warn" : "good";
  part(root, "calls", String(snapshot.calls.length));
  part(root, "waiting", String(waiting));
  part(root, "level", level === null ? "—" : `${Math.round(level * 100)}%`);
  part(root, "alerts", String(snapshot.alerts.length));
  part(root, "alerts-note", critical ? `${critical} critical` : snapshot.alerts.length ? "warnings" : "none open");
  root.querySelector('[data-part="alerts-tile"]').dataset.tone = critical ? "bad" : snapshot.alerts.length ? "warn" : "good";
}

// ------------------------------------------------------------------------------------------ fleet
function kioskTile(kiosk) {
  const tile = el("li", { class: "kiosk", "data-testid": `fleet-kiosk-${kiosk.kiosk_id}` });
  const head = el("div", { class: "kiosk-head" });
  head.append(el("span", { class: "status-dot", "aria-hidden": "true" }), el("strong", { "data-part": "id" }));
  head.append(el("span", { class: "kiosk-status", "data-part": "status" }));
  tile.append(head, el("p", { class: "muted kiosk-where", "data-part": "location" }));
  const facts = el("dl", { class: "kiosk-facts" });
  for (const [name, label] of [["seen", "Last seen"], ["version", "Version"], ["devices", "Camera · mic"],
    ["network", "Network"], ["cpu", "CPU"]]) {
    facts.append(el("dt", {}, label), el("dd", { "data-part": name }));
  }
  tile.append(facts, el("ul", { class: "kiosk-faults", "data-part": "faults" }));
  return tile;
}

const device = (health) => (health === null || health === undefined ? "—" : health.working ? "ok" : "FAULT");

function fillKiosk(tile, kiosk, atMs) {
  tile.dataset.status = kiosk.status;
  part(tile, "id", kiosk.kiosk_id);
  part(tile, "status", kiosk.status);
  part(tile, "location", kiosk.location || "no location");
  part(tile, "seen", kiosk.last_seen_ms === null ? "never" : ago(atMs - kiosk.last_seen_ms));
  part(tile, "version", kiosk.app_version || "—");
  part(tile, "devices", kiosk.camera || kiosk.microphone
    ? `${device(kiosk.camera)} · ${device(kiosk.microphone)}` : "not reported");
  part(tile, "network", kiosk.network?.kind ?? "—");
  part(tile, "cpu", kiosk.cpu_pct === null || kiosk.cpu_pct === undefined ? "—" : `${Math.round(kiosk.cpu_pct)}%`);
  const faults = [...(kiosk.faults ?? [])];
  for (const [name, health] of [["camera", kiosk.camera], ["microphone", kiosk.microphone]]) {
    if (health && !health.working) faults.unshift(`${name}: ${health.detail || "not working"}`);
  }
  const list = tile.querySelector('[data-part="faults"]');
  if (list.dataset.text !== faults.join("\n")) {
    list.dataset.text = faults.join("\n");
    list.replaceChildren(...faults.map((fault) => el("li", {}, fault)));
  }
}

/** The fleet: the kiosks that need attention first, each with its status as colour and word. */
export function renderFleet(root, snapshot) {
  const kiosks = [...snapshot.fleet].sort(
    (a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || a.kiosk_id.localeCompare(b.kiosk_id),
  );
  const counts = { online: 0, degraded: 0, offline: 0 };
  for (const kiosk of kiosks) counts[kiosk.status] += 1;
  part(root, "fleet-counts", `${counts.online} online · ${counts.degraded} degraded · ${counts.offline} offline`);
  const bar = root.querySelector('[data-part="fleet-bar"]');
  bar.replaceChildren(
    stackedBar([
      { value: counts.online, cls: "fill-online", label: "online" },
      { value: counts.degraded, cls: "fill-degraded", label: "degraded" },
      { value: counts.offline, cls: "fill-offline", label: "offline" },
    ]),
  );
  const grid = root.querySelector('[data-part="fleet-grid"]');
  keyed(grid, kiosks, (k) => k.kiosk_id, kioskTile, (tile, kiosk) => fillKiosk(tile, kiosk, snapshot.at_ms));
  part(root, "fleet-empty", kiosks.length ? "" : "No kiosks are enrolled yet.");
}

// ------------------------------------------------------------------------------------------ queues
const AGENT_STATES = [
  ["available", "available"],
  ["ringing", "ringing"],
  ["in_call", "in call"],
  ["wrap_up", "wrap-up"],
  ["away", "away"],
  ["offline", "offline"],
];

function queueRow() {
  const row = el("tr");
  row.append(el("th", { scope: "row", "data-part": "label" }), el("td", { class: "num", "data-part": "waiting" }));
  row.append(el("td", { class: "num", "data-part": "oldest" }));
  const agents = el("td", { class: "agents" });
  agents.append(el("div", { class: "agents-bar", "data-part": "bar" }), el("span", { class: "muted", "data-part": "agents" }));
  row.append(agents);
  return row;
}

function fillQueue(row, queue, targetS) {
  part(row, "label", queue.label);
  part(row, "waiting", String(queue.waiting));
  const oldest = part(row, "oldest", queue.oldest_wait_s === null ? "—" : clock(queue.oldest_wait_s));
  oldest.dataset.late = String(queue.oldest_wait_s !== null && queue.oldest_wait_s > targetS);
  row.dataset.waiting = String(queue.waiting);
  const byState = queue.agents_by_state;
  const parts = AGENT_STATES.map(([state, label]) => ({ value: byState[state] ?? 0, cls: `fill-${state}`, label }));
  row.querySelector('[data-part="bar"]').replaceChildren(stackedBar(parts, 160));
  const text = parts.filter((p) => p.value).map((p) => `${p.value} ${p.label}`).join(" · ");
  part(row, "agents", text || "no agents staffed");
}

const GOAL = 0.8; // the usual "80 % within the target" goal of contact centres

/** The queue board and the service level of the last hour. */
export function renderQueues(root, snapshot) {
  const targetS = snapshot.limits.service_level_target_s;
  keyed(root.querySelector('[data-part="queue-rows"]'), snapshot.queues, (q) => q.topic, queueRow,
    (row, queue) => fillQueue(row, queue, targetS));
  const level = snapshot.service_level;
  const box = root.querySelector('[data-testid="service-level"]');
  const share = level?.service_level ?? null;
  const tone = share === null ? "none" : share >= GOAL ? "good" : share >= GOAL - 0.15 ? "warn" : "bad";
  box.dataset.tone = tone;
  part(box, "level", share === null ? "—" : `${Math.round(share * 100)}%`);
  part(box, "target", `answered within ${Math.round(level?.target_s ?? targetS)} s (goal ${GOAL * 100}%)`);
  part(box, "detail", level && level.offered
    ? `${level.answered_within_target} of ${level.offered} calls in the last hour`
    : "no calls offered in the last hour");
  box.querySelector('[data-part="gauge"]').replaceChildren(gauge(share, GOAL, `fill-${tone}`));
}

// ------------------------------------------------------------------------------------------ alerts
function alertItem(alert) {
  const item = el("li", { class: "alert", "data-testid": `alert-${alert.kind}`, "data-alert-id": alert.alert_id });
  const head = el("div", { class: "alert-head" });
  head.append(el("span", { class: "severity", "data-part": "severity" }), el("span", { class: "alert-kind", "data-part": "kind" }));
  head.append(el("span", { class: "muted alert-since", "data-part": "since" }));
  item.append(head, el("p", { class: "alert-message", "data-part": "message" }));
  return item;
}

const KIND_LABELS = { call_quality: "call quality", kiosk_offline: "kiosk offline", kiosk_degraded: "kiosk degraded" };

/** The open alerts, newest first; an alert about a call opens its timeline. */
export function renderAlerts(root, snapshot, openTimeline) {
  const alerts = [...snapshot.alerts].sort((a, b) => b.since_ms - a.since_ms);
  const list = root.querySelector('[data-part="alert-list"]');
  keyed(list, alerts, (a) => a.alert_id, (alert) => {
    const item = alertItem(alert);
    if (alert.call_id) {
      const open = el("button", { type: "button", class: "link-btn" }, "Call timeline");
      open.addEventListener("click", () => openTimeline(alert.call_id));
      item.append(open);
    }
    return item;
  }, (item, alert) => {
    item.dataset.severity = alert.severity;
    part(item, "severity", alert.severity);
    part(item, "kind", KIND_LABELS[alert.kind] ?? alert.kind.replaceAll("_", " "));
    part(item, "since", `since ${ago(snapshot.at_ms - alert.since_ms)}`);
    part(item, "message", alert.message);
  });
  part(root, "alerts-empty", alerts.length ? "" : "No open alerts.");
}
