// Pure helpers for the panel and the run view (unit-tested with jest).

/** A number for a narrow table cell: 4 significant digits, integers as they are. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }
  return String(value);
}

/** "3 s", "4 min", "2 h", "5 d" ago, from an ISO-like timestamp (UTC, as the API sends it). */
export function ago(timestamp: string | null, now: Date = new Date()): string {
  if (!timestamp) {
    return '';
  }
  const then = new Date(timestamp.replace(' ', 'T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(timestamp) ? '' : 'Z'));
  const seconds = Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000));
  if (Number.isNaN(seconds)) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds} s ago`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.floor(seconds / 3600)} h ago`;
  }
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** Page arithmetic: which page we are on, how many there are, and whether we can move. */
export function pageInfo(total: number, offset: number, limit: number): {
  page: number; pages: number; hasPrevious: boolean; hasNext: boolean; label: string;
} {
  const pages = Math.max(1, Math.ceil(total / limit));
  const page = Math.min(pages, Math.floor(offset / limit) + 1);
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(total, offset + limit);
  return {
    page, pages, hasPrevious: offset > 0, hasNext: offset + limit < total,
    label: `${first}-${last} of ${total}`
  };
}

/** The few metrics worth showing next to a model version (alphabetical, at most `count`). */
export function keyMetrics(metrics: Record<string, number>, count = 3): [string, number][] {
  return Object.entries(metrics)
    .filter(([, v]) => typeof v === 'number')
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(0, count);
}

/** An SVG polyline `points` attribute for a metric curve inside a width x height box. */
export function sparkline(steps: number[], values: (number | string | null)[], width: number, height: number): string {
  const points: [number, number][] = [];
  steps.forEach((s, i) => {
    const v = values[i];
    if (typeof v === 'number' && Number.isFinite(v)) {
      points.push([s, v]);
    }
  });
  if (points.length === 0) {
    return '';
  }
  const xs = points.map(p => p[0]);
  const ys = points.map(p => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => (x1 === x0 ? width / 2 : ((x - x0) / (x1 - x0)) * width);
  const sy = (y: number) => (y1 === y0 ? height / 2 : height - ((y - y0) / (y1 - y0)) * height);
  return points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
}

/** Whether an alias move needs the user's attention beyond the confirmation (hidden notebook state). */
export function aliasWarning(alias: string, hiddenState: string | null): string | null {
  if (alias === 'champion' && hiddenState && hiddenState !== 'clean') {
    return `this version comes from a notebook with hidden state (${hiddenState}); the server will refuse unless forced`;
  }
  return null;
}

/** Short run label: first 8 characters of the id and the name. */
export function runLabel(runId: string, name: string | null): string {
  return name ? `${runId.slice(0, 8)} ${name}` : runId.slice(0, 8);
}

/** The latest check of each version of `model`, from the monitoring overview (newest wins). */
export function latestChecks<T extends { model: string; version: number; t: string | null }>(
  overview: T[], model: string
): Map<number, T> {
  const found = new Map<number, T>();
  for (const item of overview) {
    if (item.model !== model) {
      continue;
    }
    const seen = found.get(item.version);
    if (!seen || (item.t ?? '') >= (seen.t ?? '')) {
      found.set(item.version, item);
    }
  }
  return found;
}

/** Text, CSS status and tooltip of a version's monitoring badge. */
export function monitorBadge(
  check: { status: string; t: string | null; rows: number | null; validation?: string | null; drifted?: number | null },
  now: Date = new Date()
): { text: string; status: string; title: string } {
  const invalid = check.validation === 'fail';
  const status = invalid ? 'drift' : ['ok', 'warn', 'drift'].includes(check.status) ? check.status : 'unknown';
  const text = invalid && check.status !== 'drift' ? 'invalid' : check.status;
  const parts = [`latest check: ${check.status}`];
  if (typeof check.drifted === 'number') {
    parts.push(`${check.drifted} column${check.drifted === 1 ? '' : 's'} drifted`);
  }
  if (invalid) {
    parts.push('validation failed');
  }
  if (check.rows !== null && check.rows !== undefined) {
    parts.push(`${check.rows} rows`);
  }
  const when = ago(check.t, now);
  if (when) {
    parts.push(when);
  }
  return { text, status, title: parts.join(' · ') };
}

/** A check's columns by score, highest first, as one line: `plan drift 1.565 · age drift 1.034 · ...`. */
export function checkSummary(summary: Record<string, { status: string; score: number | string | null }> | undefined,
  count = 6): string {
  const entries = Object.entries(summary ?? {})
    .map(([column, s]) => [column, s.status, typeof s.score === 'number' ? s.score : Number.POSITIVE_INFINITY] as const)
    .filter(([, , score]) => !Number.isNaN(score))
    .sort((a, b) => b[2] - a[2]);
  const shown = entries.slice(0, count).map(([column, status, score]) =>
    `${column} ${status} ${Number.isFinite(score) ? formatValue(score) : '∞'}`);
  return shown.join(' · ') + (entries.length > count ? ` · +${entries.length - count} more` : '');
}

/** A request rate for the Serving section: `0 req/s`, `0.35 req/s`, `4.2 req/s`, `120 req/s`. */
export function formatRate(rate: number | null | undefined): string {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    return '0 req/s';
  }
  return `${rate >= 10 ? String(Math.round(rate)) : rate.toPrecision(2)} req/s`;
}

/** `champion → v3` (a served alias or URI and the version behind it; `?` while it has none). */
export function servedLabel(served: { alias: string; version: number | null }): string {
  return `${served.alias} → ${served.version === null ? '?' : `v${served.version}`}`;
}

/** The line of a server's most recent alias move: `champion v3 → v4 · 2 min ago` (or why it failed). */
export function switchLine(
  change: { alias: string; from: number | null; to: number | null; t: string | null; status: string; err: string | null },
  now: Date = new Date()
): string {
  const version = (v: number | null): string => (v === null ? 'none' : `v${v}`);
  const parts = [`${change.alias} ${version(change.from)} → ${version(change.to)}`];
  if (change.status !== 'switched') {
    parts.push(change.err ? `${change.status}: ${change.err}` : change.status);
  }
  const when = ago(change.t, now);
  if (when) {
    parts.push(when);
  }
  return parts.join(' · ');
}

/** A server's tooltip: where it listens, since when, how many requests, its deadline. */
export function serverTitle(
  server: { server: string; url: string | null; requests: number | null; recent: number; deadline_ms: number | null; started: string | null },
  now: Date = new Date()
): string {
  const parts = [server.url ?? server.server];
  if (server.requests !== null) {
    parts.push(`${server.requests} request${server.requests === 1 ? '' : 's'} since it started`);
  }
  parts.push(`${server.recent} in the last minute`);
  if (server.deadline_ms !== null) {
    parts.push(`deadline ${formatValue(server.deadline_ms)} ms`);
  }
  const since = ago(server.started, now);
  if (since) {
    parts.push(`started ${since}`);
  }
  return parts.join(' · ');
}

/** How to serve one of the project's models (the Serving section's hint when nothing is served):
 * the first model with a champion, its challenger as shadow when it has one; else `fallback`. */
export function servingHint(models: { name: string; aliases: Record<string, number> }[], fallback: string): string {
  const served = models.find(m => 'champion' in m.aliases);
  if (!served) {
    return fallback;
  }
  const shadow = 'challenger' in served.aliases ? ` --shadow ${served.name}@challenger` : '';
  return `mlnb serve ${served.name}@champion${shadow}`;
}
