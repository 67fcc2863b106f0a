/** Reads one sample's value from Prometheus' text exposition (what a scrape sees); undefined if absent. */
export function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[2] ?? '').split(',').filter(Boolean).sort();
    if (got.length === want.length && want.every((w) => got.includes(w)))
      return m[3] === '+Inf' ? Infinity : Number(m[3]);
  }
  return undefined;
}
