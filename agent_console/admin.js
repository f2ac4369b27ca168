// The administration page: staff accounts (add, role, disable, new password, sign out everywhere) and kiosks
// (enroll, rotate, revoke). Every action goes through the admin API, which refuses anyone but administrators;
// a new kiosk secret is shown once and never kept by the page.

import { ApiError, admin, login, logout, whoAmI } from "./api.js";
import { byId } from "./ui.js";

const ROLES = ["agent", "supervisor", "admin", "it"];

/** @param {"admin-signin"|"admin-forbidden"|"admin-view"} id */
function show(id) {
  for (const view of ["admin-signin", "admin-forbidden", "admin-view"]) byId(view).hidden = view !== id;
}

/** @param {string} text @param {"info"|"error"} [kind] */
function say(text, kind = "info") {
  const note = byId("admin-message");
  note.textContent = text;
  note.dataset.kind = kind;
  note.hidden = !text;
}

/** @param {string} tag @param {Object<string, string>} [attrs] @param {string} [text] */
function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

/** A button that runs `action`, reporting success or the server's refusal. */
function button(text, testid, action) {
  const node = el("button", { type: "button", class: "btn", "data-testid": testid }, text);
  node.addEventListener("click", () => run(action, node));
  return node;
}

async function run(action, control) {
  if (control) control.disabled = true;
  try {
    const done = await action();
    if (done) say(done);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      show("admin-signin");
      return;
    }
    say(error.message, "error");
  } finally {
    if (control) control.disabled = false;
  }
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

// ------------------------------------------------------------------------------------------- accounts
function userRow(user, me) {
  const name = user.username;
  const row = el("tr", { "data-testid": `user-row-${name}`, "data-disabled": String(user.disabled) });
  row.append(el("td", {}, name));
  const role = el("select", { "data-testid": `user-role-${name}`, "aria-label": `Role of ${name}` });
  for (const option of ROLES) {
    const item = el("option", { value: option }, option);
    item.selected = option === user.role;
    role.append(item);
  }
  role.disabled = name === me;
  role.addEventListener("change", () =>
    run(async () => {
      await admin.setRole(name, role.value);
      await loadUsers(me);
      return `${name} is now ${role.value}; their sessions have ended.`;
    }, role),
  );
  const roleCell = el("td");
  roleCell.append(role);
  row.append(roleCell);
  const status = user.disabled ? "disabled" : user.locked ? "locked" : "active";
  row.append(el("td", { "data-testid": `user-status-${name}` }, status));
  const actions = el("td", { class: "actions" });
  if (name !== me) {
    actions.append(
      user.disabled
        ? button("Enable", `user-enable-${name}`, async () => {
            await admin.enable(name);
            await loadUsers(me);
            return `${name} enabled.`;
          })
        : button("Disable", `user-disable-${name}`, async () => {
            await admin.disable(name);
            await loadUsers(me);
            return `${name} disabled and signed out everywhere.`;
          }),
    );
  }
  const password = el("input", {
    type: "password", autocomplete: "new-password", placeholder: "new password",
    "data-testid": `user-password-${name}`, "aria-label": `New password for ${name}`,
  });
  actions.append(
    password,
    button("Set password", `user-password-submit-${name}`, async () => {
      if (!password.value) return "Type the new password first.";
      await admin.setPassword(name, password.value);
      password.value = "";
      await loadUsers(me);
      return `New password set for ${name}; their sessions have ended.`;
    }),
    button("Sign out everywhere", `user-signout-${name}`, async () => {
      const result = await admin.logoutEverywhere(name);
      return `${name}: ${result.sessions_ended} session(s) ended.`;
    }),
  );
  row.append(actions);
  return row;
}

async function loadUsers(me) {
  const { users } = await admin.users();
  byId("users-body").replaceChildren(...users.map((user) => userRow(user, me)));
}

// --------------------------------------------------------------------------------------------- kiosks
function showSecret(kioskId, secret) {
  byId("kiosk-secret-id").textContent = kioskId;
  byId("kiosk-secret-value").textContent = secret;
  byId("kiosk-secret").hidden = false;
}

function hideSecret() {
  byId("kiosk-secret-value").textContent = "";
  byId("kiosk-secret").hidden = true;
}

function kioskRow(kiosk) {
  const id = kiosk.kiosk_id;
  const revoked = Boolean(kiosk.revoked_at);
  const row = el("tr", { "data-testid": `kiosk-row-${id}`, "data-revoked": String(revoked) });
  row.append(
    el("td", {}, id),
    el("td", {}, kiosk.location),
    el("td", {}, when(kiosk.enrolled_at)),
    el("td", {}, when(kiosk.rotated_at)),
    el("td", { "data-testid": `kiosk-status-${id}` }, revoked ? "revoked" : "active"),
  );
  const actions = el("td", { class: "actions" });
  if (!revoked) {
    actions.append(
      button("Rotate secret", `kiosk-rotate-${id}`, async () => {
        const result = await admin.rotate(id);
        showSecret(id, result.secret);
        await loadKiosks();
        return `Kiosk ${id} has a new secret; the old one no longer works.`;
      }),
      button("Revoke", `kiosk-revoke-${id}`, async () => {
        await admin.revoke(id);
        await loadKiosks();
        return `Kiosk ${id} revoked and disconnected.`;
      }),
    );
  }
  row.append(actions);
  return row;
}

async function loadKiosks() {
  const { kiosks } = await admin.kiosks();
  byId("kiosks-body").replaceChildren(...kiosks.map(kioskRow));
}

// ------------------------------------------------------------------------------------------- the page
function wireForms(me) {
  byId("user-add-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = /** @type {HTMLInputElement} */ (byId("user-add-name"));
    const password = /** @type {HTMLInputElement} */ (byId("user-add-password"));
    const role = /** @type {HTMLSelectElement} */ (byId("user-add-role"));
    run(async () => {
      await admin.addUser({ username: name.value.trim(), password: password.value, role: role.value });
      const added = name.value.trim();
      name.value = "";
      password.value = "";
      await loadUsers(me);
      return `Account ${added} added.`;
    });
  });
  byId("kiosk-enroll-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = /** @type {HTMLInputElement} */ (byId("kiosk-enroll-id"));
    const location = /** @type {HTMLInputElement} */ (byId("kiosk-enroll-location"));
    run(async () => {
      const result = await admin.enroll(id.value.trim(), location.value.trim());
      id.value = "";
      location.value = "";
      showSecret(result.kiosk_id, result.secret);
      await loadKiosks();
      return `Kiosk ${result.kiosk_id} enrolled.`;
    });
  });
  byId("kiosk-secret-done").addEventListener("click", hideSecret);
  byId("admin-signout").addEventListener("click", async () => {
    await logout().catch(() => {});
    window.location.assign("/");
  });
}

async function openPage(me) {
  if (me === null) {
    show("admin-signin");
    return;
  }
  if (me.role !== "admin") {
    show("admin-forbidden");
    return;
  }
  byId("admin-name").textContent = me.display_name || me.username;
  show("admin-view");
  wireForms(me.username);
  await run(async () => {
    await Promise.all([loadUsers(me.username), loadKiosks()]);
  });
}

function wireSignIn() {
  byId("admin-signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = /** @type {HTMLInputElement} */ (byId("admin-login-username"));
    const password = /** @type {HTMLInputElement} */ (byId("admin-login-password"));
    const note = byId("admin-signin-error");
    try {
      const me = await login(username.value.trim(), password.value);
      password.value = "";
      note.hidden = true;
      await openPage(me);
    } catch (error) {
      const wrong = error instanceof ApiError && error.status === 401;
      note.textContent = wrong ? "Wrong username or password." : error.message;
      note.hidden = false;
    }
  });
}

wireSignIn();
whoAmI().then(openPage, (error) => say(error.message, "error"));
