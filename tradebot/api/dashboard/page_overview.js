// Portfolio overview: every paper account's equity, P&L today and in total against the daily
// target, open positions and exposure; the live activity feed beside it.
import { api } from "./api.js";
import { h, message, num, pct, section, signed, stat, table, tone, when } from "./dom.js";
import { feed } from "./live.js";

const today = () => new Date().toISOString().slice(0, 10);

// One account's figures from its report (GET /api/accounts/{name}).
export function accountFigures(rep) {
  const daily = rep.daily || [];
  const last = daily.length ? daily[daily.length - 1] : null;
  const todayRow = last && String(last.day).slice(0, 10) === today() ? last : null;
  const target = rep.daily_summary ? rep.daily_summary.target : null;
  const positions = rep.positions || [];
  const held = positions.reduce((s, p) => s + Math.abs(p.qty * p.mark_price), 0);
  return {
    name: rep.account,
    market: rep.market,
    strategy: rep.strategy,
    equity: rep.equity,
    initial: rep.initial_capital,
    total: rep.equity - rep.initial_capital,
    totalPct: rep.initial_capital ? (rep.equity / rep.initial_capital - 1) * 100 : null,
    todayPnl: todayRow ? todayRow.pnl : 0,
    lastDay: last ? String(last.day).slice(0, 10) : null,
    target,
    targetMet: todayRow ? todayRow.pnl >= (target ?? Infinity) : false,
    targetDays: rep.daily_summary ? rep.daily_summary.target_days : null,
    days: rep.daily_summary ? rep.daily_summary.days : null,
    positions,
    exposureNow: rep.equity ? (held / rep.equity) * 100 : 0,
    exposureAvg: rep.exposure_pct,
    lastBar: rep.last_bar_ms,
  };
}

export async function loadAccounts() {
  const list = await api("/api/accounts");
  const names = (Array.isArray(list) ? list : list.accounts || []).map((a) => (typeof a === "string" ? a : a.name || a.account));
  const reports = await Promise.all(names.map((n) => api(`/api/accounts/${encodeURIComponent(n)}`)));
  return reports.map(accountFigures);
}

export async function overviewPage() {
  const accounts = await loadAccounts();
  const equity = accounts.reduce((s, a) => s + a.equity, 0);
  const total = accounts.reduce((s, a) => s + a.total, 0);
  const todayPnl = accounts.reduce((s, a) => s + a.todayPnl, 0);
  const target = accounts.reduce((s, a) => s + (a.target ?? 0), 0);
  const open = accounts.reduce((s, a) => s + a.positions.length, 0);
  const totals = h("div", { class: "stats", id: "portfolio-totals" },
    stat("Accounts", String(accounts.length)),
    stat("Equity", num(equity), { "data-value": "equity" }),
    stat("P&L today", signed(todayPnl), { class: `value ${tone(todayPnl)}`, "data-value": "pnl-today" }),
    stat("Daily target", target ? `${num(target)} (${num(target ? (todayPnl / target) * 100 : 0, 0)} % reached)` : "–"),
    stat("P&L total", signed(total), { class: `value ${tone(total)}`, "data-value": "pnl-total" }),
    stat("Open positions", String(open)));
  const rows = table([
    { label: "Account", get: (a) => h("a", { href: `#/market/${encodeURIComponent(a.name)}` }, a.name) },
    { label: "Market", get: (a) => a.market },
    { label: "Strategy", get: (a) => a.strategy },
    { label: "Equity", cls: "num", get: (a) => num(a.equity) },
    { label: "P&L today", cls: "num", tone: (a) => a.todayPnl, get: (a) => signed(a.todayPnl) },
    { label: "Target/day", cls: "num", get: (a) => (a.target == null ? "–" : `${num(a.target)} ${a.targetMet ? "✓" : ""}`) },
    { label: "Days on target", cls: "num", get: (a) => (a.days ? `${a.targetDays}/${a.days}` : "–") },
    { label: "P&L total", cls: "num", tone: (a) => a.total, get: (a) => `${signed(a.total)} (${pct(a.totalPct)})` },
    { label: "Position", get: (a) => (a.positions.length
      ? a.positions.map((p) => `${num(p.qty, 6)} ${p.symbol} @ ${num(p.avg_entry_price)} (uPnL ${signed(p.unrealized_pnl)})`).join("; ")
      : "flat") },
    { label: "Exposure now", cls: "num", get: (a) => `${num(a.exposureNow, 1)} %` },
    { label: "Time in market", cls: "num", get: (a) => (a.exposureAvg == null ? "–" : `${num(a.exposureAvg, 1)} %`) },
    { label: "Last bar", get: (a) => when(a.lastBar) },
  ], accounts, { id: "accounts-table" });
  return h("div", { class: "page" },
    h("h1", {}, "Portfolio"),
    totals,
    section("Accounts", accounts.length ? rows
      : message("No paper accounts yet: start one with tradebot paper, or create a bot on the Control page.")),
    section("Live activity", feed({ limit: 15 })));
}
