import { untrusted } from '../src/snapshot';

describe('untrusted', () => {
  it('removes every trust claim and keeps the rest', () => {
    const notebook = {
      metadata: { signature: 'sha256:abc', kernelspec: { name: 'python3' } },
      cells: [
        { cell_type: 'code', metadata: { trusted: true, tags: ['x'] }, outputs: [{ data: { 'text/html': '<script></script>' } }] },
        { cell_type: 'markdown', metadata: { trusted: false } },
        { cell_type: 'raw' }
      ],
      worksheets: [{ cells: [{ metadata: { trusted: true } }] }]
    };
    const stripped = untrusted(notebook);
    expect(JSON.stringify(stripped)).not.toContain('trusted');
    expect(JSON.stringify(stripped)).not.toContain('signature');
    expect(stripped.metadata).toEqual({ kernelspec: { name: 'python3' } });
    expect((stripped.cells as { metadata?: unknown }[]).map(c => c.metadata)).toEqual([{ tags: ['x'] }, {}, undefined]);
  });
});
