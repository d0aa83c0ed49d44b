// One stored backtest run: equity and drawdown charts, the summary (final equity and trade
// count as text too) and the trades.
import { api } from "./api.js";
import { drawdownPct, chart, toDates } from "./charts.js";
import { h, int, message, num, pct, section, signed, stat, table, tone, when } from "./dom.js";
import { listOf, series } from "./series.js";

export async function runPage({ args }) {
  const id = args[0];
  if (!id || !/^\d+$/.test(id)) return message(`error: run id must be a number, got "${id ?? ""}"`, "error");
  const [rep, eqResp, tradesResp] = await Promise.all([
    api(`/api/runs/${id}`),
    api(`/api/runs/${id}/equity`),
    api(`/api/runs/${id}/trades`),
  ]);
  const s = rep.summary || {};
  const hd = rep.header || {};
  const trades = listOf(tradesResp, "trades").map((t, i) => ({ ...t, n: i + 1 }));
  const eq = series(eqResp);
  const stats = h("div", { class: "stats", id: "run-summary" },
    stat("Final equity", num(s.final_equity), { id: "final-equity", "data-value": String(s.final_equity) }),
    stat("Trades", int(s.trades), { id: "trade-count", "data-value": String(s.trades) }),
    stat("Return", pct(s.total_return_pct), { class: `value ${tone(s.total_return_pct)}` }),
    stat("Max drawdown", pct(s.max_drawdown_pct != null ? -Math.abs(s.max_drawdown_pct) : null)),
    stat("Sharpe", num(s.sharpe)),
    stat("Win rate", s.win_rate_pct == null ? "–" : `${num(s.win_rate_pct, 1)} %`),
    stat("Profit factor", num(s.profit_factor)),
    stat("Fees", num(s.total_fees)));
  const x = toDates(eq.ts);
  const equity = chart("equity", [{ type: "scatter", mode: "lines", name: "equity", x, y: eq.values,
    line: { color: "#88c0d0" } }], { title: { text: "Equity" } });
  const dd = chart("drawdown", [{ type: "scatter", mode: "lines", name: "drawdown %", x, y: drawdownPct(eq.values),
    fill: "tozeroy", line: { color: "#bf616a" } }], { title: { text: "Drawdown %" } }, { height: 240 });
  const rows = table([
    { label: "#", cls: "num", get: (t) => String(t.n) },
    { label: "Entry", get: (t) => when(t.entry_ts_ms ?? Date.parse(t.entry_time)) },
    { label: "Exit", get: (t) => when(t.exit_ts_ms ?? Date.parse(t.exit_time)) },
    { label: "Side", get: (t) => (t.direction === -1 || t.direction === "short" ? "short" : "long") },
    { label: "Entry price", cls: "num", get: (t) => num(t.entry_price) },
    { label: "Exit price", cls: "num", get: (t) => num(t.exit_price) },
    { label: "P&L", cls: "num", tone: (t) => t.pnl, get: (t) => signed(t.pnl) },
    { label: "Return", cls: "num", tone: (t) => t.return_pct, get: (t) => pct(t.return_pct) },
    { label: "Exit reason", get: (t) => t.exit_reason },
  ], trades, { id: "trades-table" });
  return h("div", { class: "page", "data-run": id },
    h("h1", {}, `Run ${id}: ${hd.strategy ?? ""} on ${hd.exchange ?? ""} ${hd.symbol ?? ""} ${hd.timeframe ?? ""}`),
    h("p", { class: "muted" }, `params ${JSON.stringify(hd.params ?? {})} · data ${hd.data_range ? `${hd.data_range.start} → ${hd.data_range.end}` : "–"} · code ${hd.code_version ?? "–"} · seed ${hd.seed ?? "–"}`),
    h("p", { id: "run-text" }, `Final equity ${num(s.final_equity)} after ${int(s.trades)} trades.`),
    stats,
    section("Equity", equity, eq.note ? message(eq.note) : null),
    section("Drawdown", dd),
    section(`Trades (${trades.length})`, trades.length ? rows : message("No trades.")));
}
