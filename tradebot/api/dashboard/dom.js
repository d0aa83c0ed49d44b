// Small DOM and formatting helpers. Elements are built with createElement and textContent,
// never from HTML strings, so nothing the server sends can become markup or script.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function num(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return "–";
  return Number(v).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function int(v) {
  if (v === null || v === undefined) return "–";
  return Number(v).toLocaleString("en-US", { maximumFractionDigits: 0 });
}

export function pct(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return "–";
  return `${Number(v) >= 0 ? "+" : ""}${num(v, digits)} %`;
}

export function signed(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return "–";
  return `${Number(v) >= 0 ? "+" : ""}${num(v, digits)}`;
}

export function when(ms) {
  if (ms === null || ms === undefined) return "–";
  return new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 16);
}

export function tone(v) {
  if (v === null || v === undefined || Number(v) === 0) return "";
  return Number(v) > 0 ? "up" : "down";
}

// A table from rows: cols = [{label, get(row) -> text | Node, cls?}]
export function table(cols, rows, attrs = {}) {
  const head = h("tr", {}, cols.map((c) => h("th", { class: c.cls || "" }, c.label)));
  const body = rows.map((r) => h("tr", {}, cols.map((c) => {
    const v = c.get(r);
    const cls = [c.cls || "", typeof c.tone === "function" ? tone(c.tone(r)) : ""].join(" ").trim();
    return h("td", { class: cls }, v instanceof Node ? v : (v ?? "–"));
  })));
  return h("table", attrs, h("thead", {}, head), h("tbody", {}, body));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

export function stat(label, value, attrs = {}) {
  return h("div", { class: "stat" }, h("div", { class: "label" }, label), h("div", { class: "value", ...attrs }, value));
}

export function message(text, cls = "muted") {
  return h("p", { class: cls }, text);
}
