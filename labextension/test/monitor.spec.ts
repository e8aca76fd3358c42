import { checkSummary, latestChecks, monitorBadge } from '../src/format';

describe('latestChecks', () => {
  it('keeps the newest check of each version of one model', () => {
    const overview = [
      { model: 'churn', version: 1, status: 'ok', t: '2026-11-20 10:00:00', rows: 10 },
      { model: 'churn', version: 1, status: 'drift', t: '2026-11-21 10:00:00', rows: 12 },
      { model: 'churn', version: 2, status: 'warn', t: '2026-11-21 09:00:00', rows: 5 },
      { model: 'other', version: 1, status: 'drift', t: '2026-11-22 10:00:00', rows: 7 }
    ];
    const found = latestChecks(overview, 'churn');
    expect([...found.keys()].sort()).toEqual([1, 2]);
    expect(found.get(1)?.status).toBe('drift');
    expect(found.get(2)?.rows).toBe(5);
    expect(latestChecks(overview, 'none').size).toBe(0);
  });
});

describe('monitorBadge', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  it('shows the status with what the check found', () => {
    const badge = monitorBadge({ status: 'drift', t: '2026-11-23 11:00:00', rows: 500, drifted: 2, validation: 'pass' }, now);
    expect(badge).toEqual({ text: 'drift', status: 'drift', title: 'latest check: drift · 2 columns drifted · 500 rows · 1 h ago' });
  });
  it('marks a failed validation even when no column drifted', () => {
    const badge = monitorBadge({ status: 'ok', t: null, rows: null, validation: 'fail' }, now);
    expect(badge.text).toBe('invalid');
    expect(badge.status).toBe('drift');
    expect(badge.title).toContain('validation failed');
  });
  it('never puts an unknown status into a class name', () => {
    expect(monitorBadge({ status: 'x y', t: null, rows: 1 }, now).status).toBe('unknown');
  });
});

describe('checkSummary', () => {
  it('lists columns by score, highest first, and counts the rest', () => {
    const summary = {
      age: { status: 'drift', score: 1.034 }, income: { status: 'ok', score: 0.0039 },
      plan: { status: 'drift', score: 1.5645 }, zip: { status: 'warn', score: 'inf' }
    };
    expect(checkSummary(summary, 3)).toBe('zip warn ∞ · plan drift 1.565 · age drift 1.034 · +1 more');
    expect(checkSummary(undefined)).toBe('');
  });
});
