// The sign-in screen: username and password to a session cookie, with a clear message when refused.

import { ApiError, login } from "./api.js";
import { byId, showScreen } from "./ui.js";

export class SignIn {
  /** @param {(me: {username: string, role: string, display_name?: string}) => void} onSignedIn */
  constructor(onSignedIn) {
    this.onSignedIn = onSignedIn;
    this.username = /** @type {HTMLInputElement} */ (byId("login-username"));
    this.password = /** @type {HTMLInputElement} */ (byId("login-password"));
    this.button = /** @type {HTMLButtonElement} */ (byId("login-submit"));
    this.note = byId("signin-error");
    byId("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
  }

  /** @param {string} [message] @param {"error"|"info"} [kind] */
  show(message = "", kind = "error") {
    showScreen("signin-view");
    this.note.textContent = message;
    this.note.hidden = !message;
    this.note.dataset.kind = kind;
    this.note.setAttribute("role", kind === "error" ? "alert" : "status");
    this.username.focus();
  }

  async #submit() {
    const username = this.username.value.trim();
    if (!username || !this.password.value) {
      this.show("Enter your username and password.");
      return;
    }
    this.button.disabled = true;
    try {
      const me = await login(username, this.password.value);
      this.password.value = "";
      this.note.hidden = true;
      this.onSignedIn(me);
    } catch (error) {
      const refused = error instanceof ApiError && error.status === 401;
      this.show(refused ? "Wrong username or password." : error.message);
      this.password.select();
    } finally {
      this.button.disabled = false;
    }
  }
}
