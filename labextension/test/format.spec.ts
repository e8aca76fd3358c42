import { aliasWarning, ago, formatValue, keyMetrics, pageInfo, runLabel, sparkline } from '../src/format';

describe('formatValue', () => {
  it('keeps integers and shortens floats', () => {
    expect(formatValue(12)).toBe('12');
    expect(formatValue(0.123456)).toBe('0.1235');
    expect(formatValue(null)).toBe('');
    expect(formatValue('adam')).toBe('adam');
  });
});

describe('ago', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  it('reads the API timestamps as UTC', () => {
    expect(ago('2026-11-23 11:59:30', now)).toBe('30 s ago');
    expect(ago('2026-11-23 11:00:00', now)).toBe('1 h ago');
    expect(ago('2026-11-20T12:00:00Z', now)).toBe('3 d ago');
  });
  it('is empty for missing or bad times', () => {
    expect(ago(null, now)).toBe('');
    expect(ago('not a time', now)).toBe('');
  });
});

describe('pageInfo', () => {
  it('numbers pages and knows when to move', () => {
    expect(pageInfo(45, 0, 20)).toEqual({ page: 1, pages: 3, hasPrevious: false, hasNext: true, label: '1-20 of 45' });
    expect(pageInfo(45, 40, 20)).toEqual({ page: 3, pages: 3, hasPrevious: true, hasNext: false, label: '41-45 of 45' });
    expect(pageInfo(0, 0, 20).label).toBe('0-0 of 0');
  });
});

describe('keyMetrics', () => {
  it('takes the first metrics by name', () => {
    expect(keyMetrics({ f1: 0.9, acc: 0.8, zeta: 1, b: 2 }, 2)).toEqual([['acc', 0.8], ['b', 2]]);
  });
});

describe('sparkline', () => {
  it('scales points into the box and skips missing values', () => {
    expect(sparkline([0, 1, 2], [0, null, 10], 100, 50)).toBe('0.0,50.0 100.0,0.0');
    expect(sparkline([0], ['NaN'], 100, 50)).toBe('');
    expect(sparkline([3, 4], [5, 5], 100, 50)).toBe('0.0,25.0 100.0,25.0');
  });
});

describe('aliasWarning', () => {
  it('warns only for champion on hidden state', () => {
    expect(aliasWarning('champion', 'stale-inputs')).toContain('hidden state');
    expect(aliasWarning('champion', 'clean')).toBeNull();
    expect(aliasWarning('challenger', 'out-of-order')).toBeNull();
  });
});

describe('runLabel', () => {
  it('shortens the id', () => {
    expect(runLabel('0123456789abcdef', 'train')).toBe('01234567 train');
    expect(runLabel('0123456789abcdef', null)).toBe('01234567');
  });
});
