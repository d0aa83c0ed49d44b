// Reading the time series the API returns ({ts_ms: [...], equity: [...]}, or a list of points)
// into {ts: [ms], values: [number]}.
export function series(resp, valueKey = "equity") {
  if (!resp) return { ts: [], values: [], note: null };
  const note = resp.resolution && resp.returned < resp.points
    ? `${resp.points} points (${resp.resolution}) drawn as ${resp.returned}: each bucket's lowest and highest kept`
    : resp.resolution ? `equity ${resp.resolution}` : null;
  if (Array.isArray(resp.ts_ms)) return { ts: resp.ts_ms, values: resp[valueKey] || resp.values || [], note };
  const body = Array.isArray(resp) ? resp : [resp.points, resp.data].find(Array.isArray) || [];
  if (!body.length) return { ts: [], values: [], note };
  if (Array.isArray(body[0])) return { ts: body.map((p) => p[0]), values: body.map((p) => p[1]), note };
  const tk = "ts_ms" in body[0] ? "ts_ms" : "ts";
  return { ts: body.map((p) => p[tk]), values: body.map((p) => p[valueKey] ?? p.value), note };
}

export function listOf(resp, key) {
  if (Array.isArray(resp)) return resp;
  if (!resp) return [];
  return resp[key] || resp.items || [];
}
