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
  offline: "You are offline and will not receive calls. Choose Available when you are ready.",
  in_call: "A call is in progress, but this window is not connected to it.",
});

/** The idle view's message for the agent's state. @param {string} state @param {boolean} connected */
export function renderIdle(state, connected) {
  byId("idle-title").textContent =
    state === "away" ? "You are away" : state === "offline" && connected ? "You are offline" : "Waiting for calls";
  byId("idle-text").textContent = connected ? (IDLE_TEXT[state] ?? "") : "Connecting to the service…";
  byId("idle-view").dataset.state = state;
}

/**
 * Notes that travelled with a transferred call, one "agent: text" line per hand-over, as list items.
 * @param {HTMLElement} list an <ol> @param {string} notes
 */
export function renderHandoverNotes(list, notes) {
  const items = String(notes ?? "")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => {
      const item = document.createElement("li");
      const cut = line.indexOf(": ");
      if (cut > 0 && cut <= 64 && !line.slice(0, cut).includes(" ")) {
        const who = document.createElement("strong");
        who.textContent = line.slice(0, cut);
        item.append(who, document.createTextNode(` ${line.slice(cut + 2)}`));
      } else {
        item.textContent = line;
      }
      return item;
    });
  list.replaceChildren(...items);
  return items.length;
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
