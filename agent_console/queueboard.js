// The queue board: per queue, the calls waiting, the oldest wait (ticking), its agents by state, and a bar of
// the oldest wait against the service target. Supervisors also get the agents, with actions on each.

import { byId, formatDuration, humanize } from "./ui.js";

/** A waiting call older than this misses the service target (the bar turns amber, then red past it). */
export const WAIT_TARGET_S = 60;
const TICK_MS = 1000;

/** Agent states in board order, with the words the board uses. */
const STATES = Object.freeze([
  ["available", "available"],
  ["ringing", "ringing"],
  ["in_call", "in call"],
  ["wrap_up", "wrap-up"],
  ["away", "away"],
]);
const STATE_WORDS = Object.freeze({ ...Object.fromEntries(STATES), offline: "offline" });

/** @param {string} tag @param {string} [className] @param {string} [text] */
function el(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** Put exactly these rows in the list, moving nothing that is already in place (keeps focus and open menus). */
function place(list, rows) {
  const same = list.children.length === rows.length && rows.every((row, i) => list.children[i] === row);
  if (!same) list.replaceChildren(...rows);
}

/** @param {HTMLElement} root @param {string} selector @returns {HTMLElement} */
function find(root, selector) {
  return /** @type {HTMLElement} */ (root.querySelector(selector));
}

/** @param {import("./api.js").BoardQueue} queue */
const queueName = (queue) => (queue.label && queue.label !== queue.topic ? queue.label : humanize(queue.topic));

/** How a queue is doing against the target, for the bar's colour. @param {number|null} wait */
function waitLevel(wait) {
  if (wait === null) return "ok";
  if (wait >= WAIT_TARGET_S) return "over";
  return wait >= WAIT_TARGET_S / 2 ? "near" : "ok";
}

export class QueueBoard {
  /**
   * @param {import("./queuefeed.js").QueueFeed} feed
   * @param {{forceState: (name: string, state: string) => Promise<void>,
   *          endWrapUp: (name: string) => Promise<void>}} actions supervisors' actions
   */
  constructor(feed, actions) {
    this.feed = feed;
    this.actions = actions;
    this.supervisor = false;
    this.me = "";
    this.open = true;
    this.inCall = false;
    /** the board was closed for a call, and opens again when it ends */
    this.closedForCall = false;
    this.timer = 0;
    /** @type {import("./queuefeed.js").Snapshot|null} */
    this.snapshot = null;
    /** @type {Map<string, HTMLElement>} rows by topic, and by agent name */
    this.queueRows = new Map();
    /** @type {Map<string, HTMLElement>} */
    this.agentRows = new Map();
    this.panel = byId("queue-board");
    this.toggle = byId("board-toggle");
    this.toggle.addEventListener("click", () => {
      this.closedForCall = false;
      this.#setOpen(!this.open);
    });
    feed.subscribe((snapshot, problem) => this.#update(snapshot, problem));
  }

  /** After sign-in: who is looking, and whether they may act on agents. */
  start({ username, supervisor }) {
    this.me = username;
    this.supervisor = supervisor;
    this.snapshot = null;
    this.queueRows.clear();
    this.agentRows.clear();
    this.closedForCall = false;
    this.inCall = false;
    byId("board-queues").replaceChildren(el("li", "board-empty muted", "Loading the queues…"));
    byId("board-agents").replaceChildren();
    byId("board-agents-wrap").hidden = true;
    byId("board-updated").textContent = "";
    this.#markSupervisor();
    this.#setOpen(true);
  }

  /** The signed-in role may change with the socket's welcome. @param {boolean} supervisor */
  setSupervisor(supervisor) {
    if (supervisor === this.supervisor) return;
    this.supervisor = supervisor;
    this.#markSupervisor();
    this.#render();
  }

  /** Supervisors get a wider board, with room for the agents' actions. */
  #markSupervisor() {
    this.panel.dataset.supervisor = String(this.supervisor);
    byId("console-view").dataset.supervisor = String(this.supervisor);
  }

  /** The agent's call needs the width: the board steps aside for it, and comes back after. */
  setInCall(inCall) {
    if (inCall === this.inCall) return;
    this.inCall = inCall;
    if (inCall && this.open) {
      this.closedForCall = true;
      this.#setOpen(false);
    } else if (!inCall && this.closedForCall) {
      this.closedForCall = false;
      this.#setOpen(true);
    }
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
    this.feed.want("board", false);
    this.snapshot = null;
  }

  #setOpen(open) {
    this.open = open;
    this.panel.hidden = !open;
    byId("console-view").dataset.board = String(open);
    this.toggle.setAttribute("aria-expanded", String(open));
    this.toggle.title = open ? "Hide the queue board" : "Show the queue board";
    this.feed.want("board", open);
    clearInterval(this.timer);
    this.timer = open ? setInterval(() => this.#tick(), TICK_MS) : 0;
    if (open) this.#render();
  }

  #update(snapshot, problem) {
    const updated = byId("board-updated");
    updated.dataset.stale = String(Boolean(problem));
    updated.textContent = problem
      ? `Not updating: ${problem}`
      : `Updated ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })}`;
    if (!snapshot) return;
    this.snapshot = snapshot;
    if (this.open) this.#render();
  }

  /** Waits keep ticking between polls. */
  #waitOf(queue) {
    if (queue.oldest_wait_s === null || queue.oldest_wait_s === undefined || !this.snapshot) return null;
    return queue.oldest_wait_s + (performance.now() - this.snapshot.fetchedAt) / 1000;
  }

  #render() {
    if (!this.snapshot) return;
    const queues = this.snapshot.queues;
    const rows = queues.map((queue) => this.#queueRow(queue));
    place(byId("board-queues"), rows.length ? rows : [el("li", "board-empty muted", "No queues.")]);
    this.#renderAgents(queues);
    this.#tick();
  }

  /** One queue's row, made once and updated in place. @param {import("./api.js").BoardQueue} queue */
  #queueRow(queue) {
    let row = this.queueRows.get(queue.topic);
    if (!row) {
      row = el("li", "queue-row");
      row.dataset.testid = `queue-row-${queue.topic}`;
      row.dataset.topic = queue.topic;
      const head = el("div", "queue-head");
      const waiting = el("span", "queue-waiting");
      const count = el("span", "queue-count mono");
      count.dataset.testid = "queue-waiting";
      waiting.append(count, el("span", "queue-unit", "waiting"));
      head.append(el("span", "queue-name"), waiting);
      const wait = el("div", "queue-wait");
      const oldest = el("span", "queue-oldest mono", "—");
      oldest.dataset.testid = "queue-oldest";
      const meter = el("span", "meter");
      meter.setAttribute("role", "img");
      meter.append(el("span", "meter-fill"), el("span", "meter-target"));
      const target = el("span", "queue-target muted", `target ${formatDuration(WAIT_TARGET_S)}`);
      wait.append(el("span", "queue-wait-label", "Oldest"), oldest, meter, target);
      row.append(head, wait, el("div", "staffing"));
      this.queueRows.set(queue.topic, row);
    }
    row.dataset.waiting = String(queue.waiting > 0);
    const staffed = Object.values(queue.agents_by_state ?? {}).some((n) => n > 0);
    row.dataset.unstaffed = String(queue.waiting > 0 && !staffed);
    find(row, ".queue-name").textContent = queueName(queue);
    find(row, ".queue-count").textContent = String(queue.waiting);
    this.#staffing(find(row, ".staffing"), queue);
    return row;
  }

  /** Agents by state: a stacked bar and its counts. @param {import("./api.js").BoardQueue} queue */
  #staffing(box, queue) {
    const counts = queue.agents_by_state ?? {};
    const total = STATES.reduce((sum, [state]) => sum + (counts[state] ?? 0), 0);
    const bar = el("span", "staff-bar");
    bar.setAttribute("role", "img");
    const legend = el("ul", "staff-legend");
    const words = [];
    for (const [state, word] of STATES) {
      const n = counts[state] ?? 0;
      if (!n) continue;
      const part = el("span", "staff-part");
      part.dataset.state = state;
      part.style.setProperty("--share", String(n / total));
      bar.append(part);
      const item = el("li", "staff-count");
      item.dataset.state = state;
      item.append(el("strong", "mono", String(n)), document.createTextNode(` ${word}`));
      legend.append(item);
      words.push(`${n} ${word}`);
    }
    bar.setAttribute("aria-label", total ? `Agents: ${words.join(", ")}` : "No agents signed in");
    if (!total) {
      const none = queue.waiting > 0 ? "No agents signed in: callers cannot be answered" : "No agents signed in";
      legend.append(el("li", "staff-count staff-none", none));
    }
    box.replaceChildren(bar, legend);
  }

  /** Supervisors: every staffed agent once, with the queues they serve and actions. */
  #renderAgents(queues) {
    const wrap = byId("board-agents-wrap");
    wrap.hidden = !this.supervisor;
    if (!this.supervisor) return;
    /** @type {Map<string, {state: string, topics: string[]}>} */
    const agents = new Map();
    for (const queue of queues) {
      for (const { username, state } of queue.agents ?? []) {
        const entry = agents.get(username) ?? { state, topics: [] };
        entry.topics.push(queueName(queue));
        agents.set(username, entry);
      }
    }
    for (const name of this.agentRows.keys()) if (!agents.has(name)) this.agentRows.delete(name);
    const rows = [...agents.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, { state, topics }]) => this.#agentRow(name, state, topics));
    place(byId("board-agents"), rows.length ? rows : [el("li", "board-empty muted", "No agents signed in.")]);
  }

  /** One agent's row, made once and updated in place (an open menu survives the next poll). */
  #agentRow(name, state, topics) {
    let row = this.agentRows.get(name);
    if (!row) {
      row = this.#newAgentRow(name);
      this.agentRows.set(name, row);
    }
    find(row, ".agent-row-topics").textContent = topics.join(", ");
    const chip = find(row, ".state-chip");
    chip.textContent = STATE_WORDS[state] ?? humanize(state);
    chip.dataset.state = state;
    const select = /** @type {HTMLSelectElement} */ (find(row, "select"));
    for (const option of select.options) option.disabled = option.value === state;
    find(row, ".end-wrapup").hidden = state !== "wrap_up";
    return row;
  }

  #newAgentRow(name) {
    const row = el("li", "agent-row");
    row.dataset.testid = `agent-row-${name}`;
    const chip = el("span", "state-chip");
    chip.dataset.testid = `agent-state-${name}`;
    const line = el("div", "agent-line");
    line.append(el("span", "agent-row-name", name === this.me ? `${name} (you)` : name), chip);
    const who = el("div", "agent-who");
    who.append(line, el("span", "agent-row-topics muted"));

    const select = /** @type {HTMLSelectElement} */ (el("select", "force-state"));
    select.dataset.testid = `force-state-${name}`;
    select.setAttribute("aria-label", `Set ${name}'s state`);
    select.append(new Option("Set state…", ""));
    for (const choice of ["available", "away", "offline"]) select.append(new Option(humanize(choice), choice));
    select.addEventListener("change", () => {
      const want = select.value;
      if (want) this.#act(select, () => this.actions.forceState(name, want));
    });
    const end = /** @type {HTMLButtonElement} */ (el("button", "btn btn-small btn-secondary end-wrapup", "End wrap-up"));
    end.type = "button";
    end.dataset.testid = `end-wrapup-${name}`;
    end.addEventListener("click", () => this.#act(end, () => this.actions.endWrapUp(name)));
    const actions = el("div", "agent-actions");
    actions.append(end, select); // the menus line up, with or without the button
    row.append(who, actions);
    return row;
  }

  /** Run a supervisor's action with its control disabled meanwhile. */
  async #act(control, action) {
    control.disabled = true;
    try {
      await action();
    } finally {
      control.disabled = false;
      if (control instanceof HTMLSelectElement) control.value = "";
    }
  }

  #tick() {
    if (!this.snapshot || !this.open) return;
    for (const queue of this.snapshot.queues) {
      const row = this.queueRows.get(queue.topic);
      if (!row) continue;
      const wait = this.#waitOf(queue);
      find(row, ".queue-oldest").textContent = wait === null ? "—" : formatDuration(wait);
      const meter = find(row, ".meter");
      meter.dataset.level = waitLevel(wait);
      // the bar spans twice the target; its mark is the target
      meter.style.setProperty("--fill", String(wait === null ? 0 : Math.min(1, wait / (2 * WAIT_TARGET_S))));
      meter.setAttribute(
        "aria-label",
        wait === null ? "No calls waiting" : `Oldest wait ${formatDuration(wait)} of a ${WAIT_TARGET_S} s target`,
      );
    }
  }
}
