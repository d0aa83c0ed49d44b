// Market view: a paper account's or a stored run's candles with its strategy's trades and
// indicators (GET /api/dashboard/market/...). #/market/NAME or #/market/run/ID.
import { api } from "./api.js";
import { candleTraces, chart, drawdownPct, toDates, tradeMarkers } from "./charts.js";
import { h, message, section } from "./dom.js";
import { listOf, series } from "./series.js";

const COLORS = ["#ebcb8b", "#b48ead", "#88c0d0", "#d08770", "#8fbcbb", "#5e81ac"];

async function picker(go, current) {
  const [accounts, runs] = await Promise.all([api("/api/accounts"), api("/api/runs")]);
  const select = h("select", { id: "market-pick" }, h("option", { value: "" }, "choose an account or a run…"));
  for (const a of listOf(accounts, "accounts")) {
    const name = typeof a === "string" ? a : a.name || a.account;
    select.append(h("option", { value: `/market/${encodeURIComponent(name)}`, selected: current === name }, `paper account ${name}`));
  }
  for (const r of listOf(runs, "runs")) {
    const id = r.id ?? r.run_id;
    select.append(h("option", { value: `/market/run/${id}`, selected: current === `run ${id}` },
      `run ${id}: ${r.strategy ?? r.strategy_name ?? ""} ${r.symbol ?? ""} ${r.timeframe ?? ""}`));
  }
  select.addEventListener("change", () => select.value && go(select.value));
  return h("label", { class: "picker" }, "Show ", select);
}

export async function marketPage({ args, go }) {
  const isRun = args[0] === "run";
  const target = isRun ? args[1] : args[0];
  const pick = await picker(go, isRun ? `run ${target}` : target);
  if (!target) return h("div", { class: "page" }, h("h1", {}, "Market"), pick);
  const v = await api(isRun ? `/api/dashboard/market/run/${encodeURIComponent(target)}`
    : `/api/dashboard/market/account/${encodeURIComponent(target)}`);
  const parts = [h("h1", {}, `${v.name}: ${v.strategy} on ${v.exchange} ${v.symbol} ${v.timeframe}`), pick,
    h("p", { class: "muted" }, `parameters ${JSON.stringify(v.params || {})}`)];
  for (const n of v.notes || []) parts.push(message(n));
  if (v.candles) {
    const c = v.candles;
    const x = toDates(c.ts);
    const over = v.indicators.filter((i) => i.overlay);
    const below = v.indicators.filter((i) => !i.overlay);
    const traces = [candleTraces(c), ...tradeMarkers(v.trades)];
    over.forEach((ind, k) => traces.push({ type: "scatter", mode: "lines", name: ind.name, x, y: ind.values,
      line: { width: 1.2, color: COLORS[k % COLORS.length] } }));
    below.forEach((ind, k) => traces.push({ type: "scatter", mode: "lines", name: ind.name, x, y: ind.values,
      yaxis: "y2", line: { width: 1.2, color: COLORS[(k + over.length) % COLORS.length] } }));
    const layout = { xaxis: { rangeslider: { visible: false }, anchor: below.length ? "y2" : "y" }, hovermode: "closest",
      yaxis: { domain: below.length ? [0.3, 1] : [0, 1], title: { text: "price" } } };
    if (below.length) layout.yaxis2 = { domain: [0, 0.24], gridcolor: "#3b4252", title: { text: "indicators" } };
    parts.push(section(`Candles, trades and indicators (${v.trades.length} trades)`,
      chart("market", traces, layout, { height: 560 }), c.note ? message(c.note) : null));
  } else {
    parts.push(message("No candles to draw."));
  }
  if (!isRun) { // a paper account: its equity per processed candle, with the drawdown
    const eq = series(await api(`/api/accounts/${encodeURIComponent(target)}/equity`));
    const x = toDates(eq.ts);
    parts.push(section("Account equity", chart("equity", [
      { type: "scatter", mode: "lines", name: "equity", x, y: eq.values, line: { color: "#88c0d0" } },
      { type: "scatter", mode: "lines", name: "drawdown %", x, y: drawdownPct(eq.values), yaxis: "y2",
        fill: "tozeroy", line: { color: "#bf616a", width: 1 } },
    ], { xaxis: { anchor: "y2" }, yaxis: { domain: [0.35, 1], title: { text: "equity" } },
      yaxis2: { domain: [0, 0.28], gridcolor: "#3b4252", title: { text: "drawdown %" } } }, { height: 420 }),
    eq.note ? message(eq.note) : null));
  }
  return h("div", { class: "page" }, ...parts);
}
