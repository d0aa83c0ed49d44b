// Bot control: start, pause, stop, the kill switch (one bot, or every bot at once) and flatten
// (shown when the server offers it), each a POST with the CSRF header; the dangerous ones
// (stop, kill, flatten) ask for confirmation first. Also: create a bot from a config.
import { api, post } from "./api.js";
import { h, message, section, table, when } from "./dom.js";
import { listOf } from "./series.js";

// What each action does, and the question asked before the dangerous ones.
export const ACTIONS = {
  start: { label: "Start", confirm: null },
  pause: { label: "Pause", confirm: null },
  stop: { label: "Stop", confirm: (b) => `Stop bot ${b.name}? It stops trading at the next candle; its position stays open.` },
  kill: { label: "Kill", confirm: (b) => `Kill switch for bot ${b.name}: it stops at once and stays stopped until started again explicitly. Continue?` },
  flatten: { label: "Flatten", confirm: (b) => `Flatten bot ${b.name}: close its open position at market now. Continue?` },
};

// Actions the server offers (its OpenAPI schema lists POST /api/bots/{name}/ACTION).
async function offered() {
  try {
    const paths = (await api("/openapi.json")).paths || {};
    return new Set(Object.keys(ACTIONS).filter((a) => paths[`/api/bots/{name}/${a}`] && paths[`/api/bots/{name}/${a}`].post));
  } catch (_) {
    return new Set(["start", "pause", "stop", "kill"]);
  }
}

const ALLOWED = {
  running: ["pause", "stop", "kill", "flatten"],
  paused: ["start", "stop", "kill", "flatten"],
  stopped: ["start", "kill", "flatten"],
  killed: ["start", "flatten"],
};

// A modal confirmation (the <dialog> of index.html); resolves true only on Confirm.
export function confirmDialog(text) {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.returnValue = "";
    dlg.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

function toast(text, cls = "") {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = `toast ${cls}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.add("hidden"), 6000);
}

async function act(bot, action, refresh) {
  const spec = ACTIONS[action];
  if (spec.confirm && !(await confirmDialog(spec.confirm(bot)))) return;
  try {
    const res = await post(`/api/bots/${encodeURIComponent(bot.name)}/${action}`);
    const status = res && (res.status || (res.bot && res.bot.status));
    toast(`${bot.name}: ${action} done${status ? ` (now ${status})` : ""}`, "ok");
  } catch (e) {
    toast(`${bot.name}: ${action} refused: ${e.message}`, "error");
  }
  await refresh();
}

function botRows(bots, refresh, can) {
  return table([
    { label: "Bot", get: (b) => b.name },
    { label: "Account", get: (b) => h("a", { href: `#/market/${encodeURIComponent(b.account)}` }, b.account) },
    { label: "Strategy", get: (b) => `${b.config.strategy} ${JSON.stringify(b.config.params || {})}` },
    { label: "Market", get: (b) => `${b.config.exchange} ${b.config.symbol} ${b.config.timeframe} (${b.config.source})` },
    { label: "Status", get: (b) => h("span", { class: `status status-${b.status}`, "data-bot-status": b.name }, b.status) },
    { label: "Last run", get: (b) => (b.last_run_at ? b.last_run_at.slice(0, 16).replace("T", " ") : "–") },
    { label: "Last error", get: (b) => b.last_error || "" },
    { label: "Actions", get: (b) => h("span", { class: "actions" }, (ALLOWED[b.status] || Object.keys(ACTIONS)).filter((a) => can.has(a)).map((a) =>
      h("button", { type: "button", class: ACTIONS[a].confirm ? "danger" : "", "data-action": a, "data-bot": b.name,
        onclick: () => act(b, a, refresh) }, ACTIONS[a].label))) },
  ], bots, { id: "bots-table" });
}

function createForm(refresh) {
  const field = (name, label, attrs = {}) => h("label", {}, label, h("input", { name, ...attrs }));
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { id: "bot-create", class: "grid-form" },
    field("name", "Name", { required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.-]*" }),
    field("account", "Paper account (default: the name)"),
    field("strategy", "Strategy", { required: true, placeholder: "rsi" }),
    field("exchange", "Exchange", { placeholder: "binance" }),
    field("symbol", "Symbol", { placeholder: "BTC/USDT" }),
    field("timeframe", "Timeframe", { placeholder: "1h" }),
    h("label", {}, "Source", h("select", { name: "source" }, ["auto", "sim", "cache", "exchange"].map((s) => h("option", { value: s }, s)))),
    field("params", "Parameters (JSON)", { placeholder: "{\"period\": 14}" }),
    h("button", { type: "submit" }, "Create bot"),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const f = new FormData(form);
    let params = {};
    try {
      params = f.get("params") ? JSON.parse(String(f.get("params"))) : {};
    } catch (e) {
      error.textContent = `Parameters: not valid JSON (${e.message})`;
      return;
    }
    const body = { name: f.get("name"), strategy: f.get("strategy"), params, source: f.get("source") };
    for (const k of ["account", "exchange", "symbol", "timeframe"]) if (f.get(k)) body[k] = f.get(k);
    try {
      await post("/api/bots", body);
      form.reset();
      toast(`bot ${f.get("name")} created (stopped; start it below)`, "ok");
      await refresh();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  return form;
}

export async function controlPage({ isCurrent }) {
  const holder = h("div", { id: "bots" });
  const can = await offered();
  const refresh = async () => {
    const bots = listOf(await api("/api/bots"), "bots");
    if (!isCurrent()) return;
    holder.replaceChildren(bots.length ? botRows(bots, refresh, can)
      : message("No bots yet: create one below (a bot is a paper account the server runs at each candle close)."));
    holder.dataset.loaded = String(Date.now());
  };
  await refresh();
  const killAll = h("button", { type: "button", class: "danger", id: "kill-all", onclick: async () => {
    if (!(await confirmDialog("Kill switch for EVERY bot: all stop at once and none runs again until started explicitly. Continue?"))) return;
    try {
      const res = await post("/api/bots/kill-switch");
      toast(`kill switch: ${(res.killed || []).length} bot(s) killed`, "ok");
    } catch (e) {
      toast(`kill switch refused: ${e.message}`, "error");
    }
    await refresh();
  } }, "Kill switch: all bots");
  return h("div", { class: "page" },
    h("h1", {}, "Bot control"),
    h("p", { class: "muted" }, `${can.has("flatten") ? "Stop, kill and flatten" : "Stop and kill"} ask for confirmation. `
      + `Every action is recorded in the audit log with your token's name. Updated ${when(Date.now())} UTC.`),
    section("Bots", holder, h("p", {}, killAll)),
    section("Create a bot", createForm(refresh)));
}
