// The server's JSON API: staff sign-in, the queue board and supervisors' actions. The session lives in an
// HttpOnly cookie the console never sees. Refusals come back as JSON problems {code, message}.

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** POSTs always carry a JSON body: the server refuses any other (it is also its guard against forms). */
async function request(method, path, body = method === "POST" ? {} : undefined) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
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
