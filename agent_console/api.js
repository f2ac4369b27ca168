// Staff sign-in over the JSON API. The session lives in an HttpOnly cookie the console never sees.

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
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
