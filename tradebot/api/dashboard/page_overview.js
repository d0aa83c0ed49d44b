// Portfolio overview: every paper account's equity, P&L today and in total against the daily
// target, open positions and exposure (GET /api/dashboard/overview); the live activity feed.
import { api } from "./api.js";
import { h, message, num, pct, section, signed, stat, table, tone, when } from "./dom.js";
import { feed } from "./live.js";

export async function loadOverview() {
  return api("/api/dashboard/overview");
}

export async function overviewPage() {
  const { accounts, totals: t, today } = await loadOverview();
  const reached = t.daily_target ? (t.pnl_today / t.daily_target) * 100 : null;
  const totals = h("div", { class: "stats", id: "portfolio-totals" },
    stat("Accounts", String(t.accounts)),
    stat("Equity", num(t.equity), { "data-value": "equity" }),
    stat(`P&L today (${today} UTC)`, signed(t.pnl_today), { class: `value ${tone(t.pnl_today)}`, "data-value": "pnl-today" }),
    stat("Daily target", t.daily_target == null ? "–" : `${num(t.daily_target)} (${num(reached, 0)} % reached)`),
    stat("P&L total", signed(t.pnl_total), { class: `value ${tone(t.pnl_total)}`, "data-value": "pnl-total" }),
    stat("Open positions", String(t.open_positions)));
  const rows = table([
    { label: "Account", get: (a) => h("a", { href: `#/market/${encodeURIComponent(a.account)}` }, a.account) },
    { label: "Market", get: (a) => a.market },
    { label: "Strategy", get: (a) => a.strategy },
    { label: "Equity", cls: "num", get: (a) => num(a.equity) },
    { label: "P&L today", cls: "num", tone: (a) => a.pnl_today, get: (a) => signed(a.pnl_today) },
    { label: "Target/day", cls: "num", get: (a) => (a.daily_target == null ? "–" : `${num(a.daily_target)}${a.target_met_today ? " ✓" : ""}`) },
    { label: "Days on target", cls: "num", get: (a) => (a.days ? `${a.target_days}/${a.days}` : "–") },
    { label: "P&L total", cls: "num", tone: (a) => a.pnl_total, get: (a) => `${signed(a.pnl_total)} (${pct(a.return_pct)})` },
    { label: "Position", get: (a) => (a.positions.length
      ? a.positions.map((p) => `${num(p.qty, 6)} ${p.symbol} @ ${num(p.avg_entry_price)} (uPnL ${signed(p.unrealized_pnl)})`).join("; ")
      : "flat") },
    { label: "Exposure now", cls: "num", get: (a) => (a.exposure_now_pct == null ? "–" : `${num(a.exposure_now_pct, 1)} %`) },
    { label: "Time in market", cls: "num", get: (a) => (a.time_in_market_pct == null ? "–" : `${num(a.time_in_market_pct, 1)} %`) },
    { label: "Last candle", get: (a) => when(a.last_bar_ms) },
  ], accounts, { id: "accounts-table" });
  return h("div", { class: "page" },
    h("h1", {}, "Portfolio"),
    totals,
    section("Accounts", accounts.length ? rows
      : message("No paper accounts yet: start one with tradebot paper, or create a bot on the Control page.")),
    section("Live activity", feed({ limit: 15 })));
}
