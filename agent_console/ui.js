// Small DOM helpers shared by the console's parts: element lookup, views, the state pill, toasts, formats.

/** @param {string} id @returns {HTMLElement} */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el;
}

/** Show exactly one of the workspace views. */
const WORKSPACE_VIEWS = ["idle-view", "incoming-call", "call-view", "wrapup-view"];

/** @param {"idle-view"|"incoming-call"|"call-view"|"wrapup-view"} id */
export function showWorkspace(id) {
  for (const view of WORKSPACE_VIEWS) byId(view).hidden = view !== id;
}

/** @param {"signin-view"|"console-view"} id */
export function showScreen(id) {
  byId("signin-view").hidden = id !== "signin-view";
  byId("console-view").hidden = id !== "console-view";
}

const IDLE_TEXT = Object.freeze({
  available: "You are available. Calls that match your skills will ring here.",
  away: "You are away and will not receive calls. Choose Available when you are ready.",
  offline: "Connecting to the service…",
  in_call: "A call is in progress, but this window is not connected to it.",
});

/** @param {string} state */
export function renderAgentState(state) {
  const pill = byId("agent-state");
  pill.textContent = state;
  pill.dataset.state = state;
  const canChoose = state === "available" || state === "away" || state === "offline";
  for (const [id, value] of [["state-available", "available"], ["state-away", "away"]]) {
    const button = byId(id);
    button.setAttribute("aria-pressed", String(state === value));
    button.disabled = !canChoose;
  }
  byId("idle-title").textContent = state === "away" ? "You are away" : "Waiting for calls";
  byId("idle-text").textContent = IDLE_TEXT[state] ?? "";
  byId("idle-view").dataset.state = state;
}

/**
 * A message in the corner that goes away by itself (errors stay until closed).
 * @param {string} text @param {{kind?: "error"|"info"|"success", title?: string, timeoutMs?: number}} [opts]
 */
export function toast(text, { kind = "error", title = "", timeoutMs } = {}) {
  const item = document.createElement("div");
  item.className = `toast toast-${kind}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  item.dataset.testid = "toast";
  const body = document.createElement("div");
  body.className = "toast-body";
  if (title) {
    const strong = document.createElement("strong");
    strong.textContent = title;
    body.append(strong);
  }
  const p = document.createElement("p");
  p.textContent = text;
  body.append(p);
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => item.remove());
  item.append(body, close);
  byId("toasts").append(item);
  const ms = timeoutMs ?? (kind === "error" ? 12_000 : 6_000);
  setTimeout(() => item.remove(), ms);
}

/** @param {string} message Shown under the header while the console cannot talk to the server. */
export function banner(message) {
  const el = byId("connection-banner");
  el.textContent = message;
  el.hidden = !message;
}

/** 75 → "01:15", 3725 → "1:02:05" */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** "referred_to_branch" → "Referred to branch" */
export function humanize(code) {
  const words = String(code).replaceAll("_", " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const languageNames = (() => {
  try {
    return new Intl.DisplayNames(["en"], { type: "language" });
  } catch {
    return null;
  }
})();

/** "es" → "Spanish (es)" */
export function languageLabel(code) {
  let name = null;
  try {
    name = languageNames?.of(code) ?? null;
  } catch {
    name = null;
  }
  return name && name !== code ? `${name} (${code})` : code;
}
