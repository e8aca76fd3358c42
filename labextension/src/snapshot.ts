// Opening a run's notebook snapshot: saved through the contents API always untrusted, so its
// HTML/JavaScript outputs never run in the Jupyter origin (a run's outputs are not the user's code).
import { Contents } from '@jupyterlab/services';

import { requestAPI } from './api';
import { RunDetail } from './types';

type Json = { [key: string]: unknown };

/** The notebook without trust claims: no cell `metadata.trusted`, no notebook `signature`.
 * The server's /snapshot endpoint already strips them; this keeps the panel safe on its own. */
export function untrusted(notebook: Json): Json {
  const metadata = notebook.metadata as Json | undefined;
  if (metadata && typeof metadata === 'object') {
    delete metadata.signature;
  }
  const sheets = Array.isArray(notebook.worksheets) ? (notebook.worksheets as Json[]) : [];
  const cells = [notebook.cells, ...sheets.map(s => s?.cells)].flatMap(c => (Array.isArray(c) ? (c as Json[]) : []));
  for (const cell of cells) {
    const cellMeta = cell?.metadata as Json | undefined;
    if (cellMeta && typeof cellMeta === 'object') {
      delete cellMeta.trusted;
    }
  }
  return notebook;
}

/** Save the run's snapshot as mlnb-snapshots/run-<id>.ipynb (untrusted); returns its path. */
export async function saveSnapshot(contents: Contents.IManager, run: RunDetail): Promise<string> {
  const notebook = untrusted(await requestAPI<Json>(['runs', run.run_id, 'snapshot']));
  const folder = 'mlnb-snapshots';
  try {
    await contents.get(folder, { content: false });
  } catch {
    await contents.save(folder, { type: 'directory' });
  }
  const path = `${folder}/run-${run.run_id.slice(0, 8)}.ipynb`;
  await contents.save(path, { type: 'notebook', format: 'json', content: notebook });
  return path;
}
