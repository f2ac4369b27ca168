// The server's JSON API: staff sign-in, the queue board and supervisors' actions. The session lives in an
// HttpOnly cookie the console never sees; its CSRF token in one it reads. Refusals come back as JSON
// problems {code, message}.

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const CSRF_COOKIE = "ka_csrf";

/** The session's CSRF token, which sign-in leaves in a readable cookie ("" when signed out). */
function csrfToken() {
  const prefix = `${CSRF_COOKIE}=`;
  const found = document.cookie.split("; ").find((part) => part.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : "";
}

/** POSTs always carry a JSON body: the server refuses any other. Every request that changes something
 * echoes the session's CSRF token in `X-CSRF-Token` (the server refuses it from anywhere else). */
async function request(method, path, body = method === "POST" ? {} : undefined) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET" && method !== "HEAD") {
    const token = csrfToken();
    if (token) init.headers["X-CSRF-Token"] = token;
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, data.code ?? "http_error", data.message ?? response.statusText);
  }
  return data;
}

/** @returns {Promise<{username: string, role: string, display_name?: string}>} */
export const login = (username, password) => request("POST", "/api/login", { username, password });

export const logout = () => request("POST", "/api/logout");

/** The signed-in staff member, or null when nobody is signed in. */
export async function whoAmI() {
  try {
    return await request("GET", "/api/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/**
 * @typedef {{username: string, state: import("./protocol.js").AgentState}} BoardAgent
 * @typedef {{topic: string, label: string, waiting: number, oldest_wait_s: number|null,
 *            agents_by_state: Object<string, number>, agents: BoardAgent[]}} BoardQueue
 */

/** Every queue: calls waiting, the oldest wait, and its staffed agents by state.
 * @returns {Promise<{queues: BoardQueue[]}>} */
export const queueBoard = () => request("GET", "/api/queues");

const agentPath = (name) => `/api/agents/${encodeURIComponent(name)}`;

/** Supervisors: set an agent's state (kept as their next state while they are in a call: 202).
 * @param {string} name @param {"available"|"away"|"offline"} state @param {string} [reason] */
export const forceAgentState = (name, state, reason = "") =>
  request("POST", `${agentPath(name)}/state`, { state, reason });

/** Supervisors: end an agent's wrap-up (it is filed without an outcome). @param {string} name */
export const completeWrapUp = (name) => request("POST", `${agentPath(name)}/wrap-up/complete`);

// --------------------------------------------------------------------------------- sign-out everywhere
/** End every session of the signed-in account, this one too; its other consoles close. */
export const logoutEverywhere = () => request("POST", "/api/logout-everywhere");

// ------------------------------------------------------------------------------ administrators (admin.js)
const userPath = (name) => `/api/admin/users/${encodeURIComponent(name)}`;
const kioskPath = (id) => `/api/admin/kiosks/${encodeURIComponent(id)}`;

export const admin = Object.freeze({
  users: () => request("GET", "/api/admin/users"),
  /** @param {{username: string, password: string, role: string, display_name?: string}} account */
  addUser: (account) => request("POST", "/api/admin/users", account),
  setRole: (name, role) => request("POST", `${userPath(name)}/role`, { role }),
  disable: (name) => request("POST", `${userPath(name)}/disable`),
  enable: (name) => request("POST", `${userPath(name)}/enable`),
  setPassword: (name, password) => request("POST", `${userPath(name)}/password`, { password }),
  logoutEverywhere: (name) => request("POST", `${userPath(name)}/logout-everywhere`),
  kiosks: () => request("GET", "/api/admin/kiosks"),
  enroll: (kioskId, location) => request("POST", "/api/admin/kiosks", { kiosk_id: kioskId, location }),
  rotate: (kioskId) => request("POST", `${kioskPath(kioskId)}/rotate`),
  revoke: (kioskId) => request("POST", `${kioskPath(kioskId)}/revoke`),
});

// ------------------------------------------------------------------------------------ dashboard (dashboard.js)
/** One call's history events, alerts and quality samples, in time order (recorded as an export).
 * @param {string} callId */
export const callTimeline = (callId) => request("GET", `/api/calls/${encodeURIComponent(callId)}/timeline`);
