// Strategy performance: stored runs and paper accounts side by side.
import { api } from "./api.js";
import { chart } from "./charts.js";
import { h, int, message, num, pct, section, table } from "./dom.js";
import { loadOverview } from "./page_overview.js";
import { listOf } from "./series.js";

const metric = (r, k) => (r.metrics ? r.metrics[k] : r.summary ? r.summary[k] : r[k]);

export async function performancePage() {
  const [runsResp, overview, studiesResp] = await Promise.all([
    api("/api/runs"), loadOverview(), api("/api/studies"),
  ]);
  const accounts = overview.accounts;
  const runs = listOf(runsResp, "runs");
  const studies = listOf(studiesResp, "studies");
  const runTable = table([
    { label: "Run", get: (r) => h("a", { href: `#/run/${r.id ?? r.run_id}` }, `#${r.id ?? r.run_id}`) },
    { label: "Strategy", get: (r) => r.strategy ?? r.strategy_name },
    { label: "Market", get: (r) => `${r.exchange ?? ""} ${r.symbol ?? ""} ${r.timeframe ?? ""}` },
    { label: "Return", cls: "num", tone: (r) => metric(r, "total_return_pct"), get: (r) => pct(metric(r, "total_return_pct")) },
    { label: "Max DD", cls: "num", get: (r) => pct(metric(r, "max_drawdown_pct") == null ? null : -Math.abs(metric(r, "max_drawdown_pct"))) },
    { label: "Sharpe", cls: "num", get: (r) => num(metric(r, "sharpe")) },
    { label: "Trades", cls: "num", get: (r) => int(metric(r, "trades")) },
    { label: "Final equity", cls: "num", get: (r) => num(metric(r, "final_equity")) },
  ], runs, { id: "runs-table" });
  const acctTable = table([
    { label: "Account", get: (a) => h("a", { href: `#/market/${encodeURIComponent(a.account)}` }, a.account) },
    { label: "Strategy", get: (a) => a.strategy },
    { label: "Market", get: (a) => a.market },
    { label: "Return", cls: "num", tone: (a) => a.return_pct, get: (a) => pct(a.return_pct) },
    { label: "Days on target", cls: "num", get: (a) => (a.days ? `${a.target_days}/${a.days}` : "–") },
    { label: "Equity", cls: "num", get: (a) => num(a.equity) },
  ], accounts, { id: "perf-accounts-table" });
  const labels = [...runs.map((r) => `run ${r.id ?? r.run_id} ${r.strategy ?? r.strategy_name}`),
    ...accounts.map((a) => `${a.account} (paper ${a.strategy})`)];
  const values = [...runs.map((r) => metric(r, "total_return_pct")), ...accounts.map((a) => a.return_pct)];
  const bars = labels.length ? chart("compare", [{ type: "bar", x: labels, y: values, name: "return %",
    marker: { color: values.map((v) => (v >= 0 ? "#a3be8c" : "#bf616a")) } }],
  { title: { text: "Return % — runs and paper accounts" }, hovermode: "closest" }, { height: 320 }) : null;
  const studyTable = table([
    { label: "Study", get: (s) => h("a", { href: `#/study/${s.id ?? s.study_id}` }, `S${s.id ?? s.study_id}`) },
    { label: "Strategy", get: (s) => s.strategy ?? s.strategy_name },
    { label: "Method", get: (s) => s.method },
    { label: "Objectives", get: (s) => (Array.isArray(s.objectives) ? s.objectives.join(", ") : s.objectives ?? "") },
    { label: "Status", get: (s) => s.status },
    { label: "Best parameters", get: (s) => (s.best ? JSON.stringify(s.best) : "–") },
  ], studies, { id: "studies-table" });
  return h("div", { class: "page" },
    h("h1", {}, "Strategy performance"),
    bars ? section("Compared", bars) : null,
    section("Backtest runs", runs.length ? runTable : message("No stored runs: tradebot backtest stores one.")),
    section("Paper accounts", accounts.length ? acctTable : message("No paper accounts.")),
    section("Studies", studies.length ? studyTable : message("No studies: tradebot optimize stores one.")));
}
