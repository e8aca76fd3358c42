import { formatRate, servedLabel, serverTitle, servingHint, switchLine } from '../src/format';

describe('formatRate', () => {
  it('shows two significant digits below 10 req/s and whole numbers above', () => {
    expect(formatRate(0)).toBe('0 req/s');
    expect(formatRate(0.35)).toBe('0.35 req/s');
    expect(formatRate(4.216)).toBe('4.2 req/s');
    expect(formatRate(123.6)).toBe('124 req/s');
  });
  it('never shows NaN or a negative rate', () => {
    expect(formatRate(Number.NaN)).toBe('0 req/s');
    expect(formatRate(-1)).toBe('0 req/s');
    expect(formatRate(null)).toBe('0 req/s');
  });
});

describe('servedLabel', () => {
  it('names the alias and its version', () => {
    expect(servedLabel({ alias: 'champion', version: 3 })).toBe('champion → v3');
    expect(servedLabel({ alias: 'challenger', version: null })).toBe('challenger → ?');
  });
});

describe('switchLine', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  it('shows the move and when it happened', () => {
    const line = switchLine({ alias: 'champion', from: 3, to: 4, t: '2026-11-23 11:58:00', status: 'switched', err: null }, now);
    expect(line).toBe('champion v3 → v4 · 2 min ago');
  });
  it('says why a move failed and a deleted alias', () => {
    const line = switchLine({ alias: 'challenger', from: 4, to: null, t: null, status: 'failed', err: 'cannot load v5' }, now);
    expect(line).toBe('challenger v4 → none · failed: cannot load v5');
  });
});

describe('serverTitle', () => {
  it('lists where it listens, its traffic and its deadline', () => {
    const title = serverTitle({
      server: 'host-1-abc', url: 'http://127.0.0.1:8080', requests: 1, recent: 0, deadline_ms: 250,
      started: '2026-11-23 11:00:00'
    }, new Date('2026-11-23T12:00:00Z'));
    expect(title).toBe('http://127.0.0.1:8080 · 1 request since it started · 0 in the last minute · deadline 250 ms · started 1 h ago');
    expect(serverTitle({ server: 's', url: null, requests: null, recent: 5, deadline_ms: null, started: null }))
      .toBe('s · 5 in the last minute');
  });
});

describe('servingHint', () => {
  const fallback = 'mlnb serve churn@champion --shadow churn@challenger';
  it('names a model of the project that has a champion, with its challenger as shadow', () => {
    const models = [
      { name: 'plain', aliases: {} },
      { name: 'digits', aliases: { champion: 2, challenger: 3 } },
      { name: 'solo', aliases: { champion: 1 } }
    ];
    expect(servingHint(models, fallback)).toBe('mlnb serve digits@champion --shadow digits@challenger');
    expect(servingHint(models.slice(2), fallback)).toBe('mlnb serve solo@champion');
  });
  it('falls back to the example without a champion', () => {
    expect(servingHint([{ name: 'plain', aliases: {} }], fallback)).toBe(fallback);
    expect(servingHint([], fallback)).toBe(fallback);
  });
});
