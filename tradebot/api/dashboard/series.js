// Reading the time series the API returns into {ts: [ms], values: [number]}.
export function series(resp, valueKey = "equity") {
  if (!resp) return { ts: [], values: [], note: null };
  const note = resp.note || resp.downsampled_note || null;
  const body = Array.isArray(resp) ? resp : resp.points || resp.equity || resp.data || resp;
  if (Array.isArray(body)) {
    if (!body.length) return { ts: [], values: [], note };
    if (Array.isArray(body[0])) return { ts: body.map((p) => p[0]), values: body.map((p) => p[1]), note };
    const tk = "ts_ms" in body[0] ? "ts_ms" : "ts" in body[0] ? "ts" : "t";
    return { ts: body.map((p) => p[tk]), values: body.map((p) => p[valueKey] ?? p.value), note };
  }
  const ts = body.ts_ms || body.ts || body.timestamp || [];
  return { ts, values: body[valueKey] || body.values || [], note };
}

export function listOf(resp, key) {
  if (Array.isArray(resp)) return resp;
  if (!resp) return [];
  return resp[key] || resp.items || [];
}
