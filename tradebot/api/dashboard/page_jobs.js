// Background jobs: launch a backtest or an optimization (POST /api/jobs, with the CSRF header)
// and follow its progress; a finished job links to its run or study.
import { api, post } from "./api.js";
import { h, message, section, table } from "./dom.js";
import { listOf } from "./series.js";

function resultLink(j) {
  const r = j.result || {};
  if (r.run_id != null) return h("a", { href: `#/run/${r.run_id}` }, `run ${r.run_id}`);
  if (r.study_id != null) return h("a", { href: `#/study/S${r.study_id}` }, `study S${r.study_id}`);
  return j.error ? h("span", { class: "error" }, j.error) : "";
}

function jobRows(jobs) {
  return table([
    { label: "Job", cls: "num", get: (j) => String(j.id) },
    { label: "Kind", get: (j) => j.kind },
    { label: "Request", get: (j) => JSON.stringify(j.request) },
    { label: "Status", get: (j) => h("span", { class: `status status-${j.status}`, "data-job-status": j.id }, j.status) },
    { label: "Progress", get: (j) => j.progress || "" },
    { label: "By", get: (j) => j.created_by || "" },
    { label: "Result", get: resultLink },
  ], jobs, { id: "jobs-table" });
}

function launchForm(refresh) {
  const field = (name, label, attrs = {}) => h("label", {}, label, h("input", { name, ...attrs }));
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { id: "job-create", class: "grid-form" },
    h("label", {}, "Kind", h("select", { name: "kind" }, h("option", { value: "backtest" }, "backtest"),
      h("option", { value: "optimize" }, "optimize"))),
    field("strategy", "Strategy", { required: true, placeholder: "rsi" }),
    field("exchange", "Exchange", { placeholder: "sim" }),
    field("symbol", "Symbol", { placeholder: "BTC/USDT" }),
    field("timeframe", "Timeframe", { placeholder: "1h" }),
    field("since", "Since", { placeholder: "2024-01-01" }),
    field("until", "Until", { placeholder: "2024-03-01" }),
    field("params", "Parameters (JSON, backtest)", { placeholder: "{\"period\": 14}" }),
    field("space", "Search space (optimize; ; between)", { placeholder: "period=7,14; lower=25,30" }),
    field("objectives", "Objectives (optimize)", { placeholder: "sharpe" }),
    h("button", { type: "submit" }, "Launch"),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const f = new FormData(form);
    const body = { kind: f.get("kind") };
    for (const k of ["strategy", "exchange", "symbol", "timeframe", "since", "until", "objectives"]) {
      if (f.get(k)) body[k] = String(f.get(k));
    }
    try {
      if (f.get("params")) body.params = JSON.parse(String(f.get("params")));
    } catch (e) {
      error.textContent = `Parameters: not valid JSON (${e.message})`;
      return;
    }
    if (f.get("space")) body.space = String(f.get("space")).split(";").map((s) => s.trim()).filter(Boolean);
    try {
      await post("/api/jobs", body);
      await refresh();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  return form;
}

export async function jobsPage({ isCurrent }) {
  const holder = h("div", { id: "jobs" });
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    if (!isCurrent()) return;
    const jobs = listOf(await api("/api/jobs"), "jobs");
    holder.replaceChildren(jobs.length ? jobRows(jobs) : message("No jobs yet."));
    // follow the running ones until they finish, while this page is shown
    if (jobs.some((j) => j.status === "queued" || j.status === "running")) timer = setTimeout(() => refresh().catch(() => {}), 1500);
  };
  await refresh();
  return h("div", { class: "page" },
    h("h1", {}, "Jobs"),
    section("Launch a backtest or an optimization", launchForm(refresh)),
    section("Jobs", holder));
}
