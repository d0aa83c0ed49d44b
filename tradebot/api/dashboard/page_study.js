// One optimization study: the chosen parameters, the Pareto front, parameter importance, the
// walk-forward windows (in-sample against out-of-sample) and the stitched out-of-sample equity.
import { api } from "./api.js";
import { chart, toDates } from "./charts.js";
import { h, int, message, num, section, stat, table, when } from "./dom.js";

const metric = (m, k) => (m ? m[k] : null);

export async function studyPage({ args }) {
  const raw = String(args[0] || "").replace(/^[Ss]/, "");
  if (!/^\d+$/.test(raw)) return message(`error: study id must be S<number>, got "${args[0] ?? ""}"`, "error");
  const s = await api(`/api/studies/${raw}`);
  const named = s.objectives || (s.request || {}).objectives || [];
  const objectives = Array.isArray(named) ? named : String(named).split(",").map((o) => o.trim()).filter(Boolean);
  const chosen = s.chosen || {};
  const parts = [
    h("h1", {}, `Study S${s.study_id ?? raw}: ${s.strategy} on ${s.exchange ?? ""} ${s.symbol ?? ""} ${s.timeframe ?? ""}`),
    h("p", { class: "muted" }, `${s.method} · objectives ${objectives.join(", ")} · status ${s.status} · `
      + `data ${when(s.data_start_ms)} → ${when(s.data_end_ms)} · seed ${s.seed ?? "–"}`),
    h("div", { class: "stats", id: "study-summary" },
      stat("Trials", int(typeof s.trials === "number" ? s.trials : (s.trials || []).length)),
      stat("Chosen parameters", chosen.params ? JSON.stringify(chosen.params) : "–", { id: "chosen-params" }),
      stat("Out-of-sample Sharpe", num(metric(chosen.out_of_sample, "sharpe"))),
      stat("DSR", num(s.honesty && s.honesty.dsr ? s.honesty.dsr.dsr : null, 3)),
      stat("PBO", num(s.honesty && s.honesty.pbo ? s.honesty.pbo.pbo : null, 3))),
  ];
  if (s.pareto && s.pareto.length && objectives.length >= 2) {
    parts.push(section("Pareto front", chart("pareto", [{ type: "scatter", mode: "markers", name: "pareto",
      x: s.pareto.map((p) => p.scores[0]), y: s.pareto.map((p) => p.scores[1]),
      text: s.pareto.map((p) => JSON.stringify(p.params)), marker: { size: 10, color: "#88c0d0" } }],
    { xaxis: { title: { text: objectives[0] } }, yaxis: { title: { text: objectives[1] } }, hovermode: "closest" })));
  }
  const imp = Object.entries(s.importance || {});
  if (imp.length) {
    parts.push(section("Parameter importance", chart("importance", [{ type: "bar", orientation: "h",
      x: imp.map((e) => e[1]), y: imp.map((e) => e[0]), marker: { color: "#b48ead" } }],
    { hovermode: "closest" }, { height: 80 + 30 * imp.length })));
  }
  const windows = s.windows || [];
  if (windows.length) {
    const labels = windows.map((w) => `window ${w.window}`);
    parts.push(section("Walk-forward windows",
      chart("windows", [
        { type: "bar", name: "in-sample return %", x: labels, y: windows.map((w) => metric(w.in_sample, "return_pct")) },
        { type: "bar", name: "out-of-sample return %", x: labels, y: windows.map((w) => metric(w.out_of_sample, "return_pct")) },
      ], { barmode: "group", hovermode: "closest" }, { height: 300 }),
      table([
        { label: "Window", cls: "num", get: (w) => String(w.window) },
        { label: "In-sample", get: (w) => `${when(w.is_start_ms)} → ${when(w.is_end_ms)}` },
        { label: "Out-of-sample", get: (w) => `${when(w.oos_start_ms)} → ${when(w.oos_end_ms)}` },
        { label: "Best parameters", get: (w) => JSON.stringify(w.best_params) },
        { label: "IS Sharpe", cls: "num", get: (w) => num(metric(w.in_sample, "sharpe")) },
        { label: "OOS Sharpe", cls: "num", get: (w) => num(metric(w.out_of_sample, "sharpe")) },
      ], windows, { id: "windows-table" })));
  }
  const oos = s.walk_forward && s.walk_forward.out_of_sample;
  if (oos && oos.equity && oos.equity.length) {
    parts.push(section("Out-of-sample equity (stitched windows)", chart("oos-equity", [{ type: "scatter",
      mode: "lines", name: "out-of-sample equity", x: toDates(oos.equity.map((p) => p[0])),
      y: oos.equity.map((p) => p[1]), line: { color: "#a3be8c" } }])));
  }
  const top = s.top || [];
  if (top.length) {
    parts.push(section("Best trials", table([
      { label: "Trial", cls: "num", get: (t) => String(t.number) },
      { label: "Parameters", get: (t) => JSON.stringify(t.params) },
      ...objectives.map((o, i) => ({ label: o, cls: "num", get: (t) => num(t.scores[i], 3) })),
    ], top, { id: "trials-table" })));
  }
  return h("div", { class: "page", "data-study": raw }, ...parts);
}
