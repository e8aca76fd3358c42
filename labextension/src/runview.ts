// The main-area view of one run: params, metric charts, captured cells, artifacts, notebook snapshot.
import { Widget } from '@lumino/widgets';

import { ApiError, artifactUrl, requestAPI } from './api';
import { button, el, table } from './dom';
import { formatValue, runLabel, sparkline } from './format';
import { MetricHistory, RunDetail } from './types';

const SVG = 'http://www.w3.org/2000/svg';

export class RunView extends Widget {
  constructor(
    readonly runId: string,
    private readonly openSnapshot: (run: RunDetail) => Promise<void>
  ) {
    super();
    this.id = `mlnb-run-${runId}`;
    this.title.label = `run ${runId.slice(0, 8)}`;
    this.title.closable = true;
    this.addClass('mlnb-run-view');
    this.node.appendChild(el('p', { className: 'mlnb-dim', text: 'loading...' }));
    void this.load();
  }

  async load(): Promise<void> {
    let run: RunDetail;
    try {
      run = await requestAPI<RunDetail>(['runs', this.runId]);
    } catch (error) {
      const text = error instanceof ApiError ? error.message : String(error);
      this.node.replaceChildren(el('p', { className: 'mlnb-error', text }));
      return;
    }
    this.title.label = runLabel(run.run_id, run.name);
    const snapshot = button('Open notebook snapshot', () => void this.openSnapshot(run));
    snapshot.classList.add('mlnb-open-snapshot');
    snapshot.disabled = run.notebook_artifact === null;
    if (snapshot.disabled) {
      snapshot.title = 'this run has no notebook snapshot (capture with %track start ... %track stop)';
    }
    const charts = el('div', { className: 'mlnb-charts' });
    this.node.replaceChildren(
      el('h2', { text: `Run ${runLabel(run.run_id, run.name)}` }),
      el('p', { className: `mlnb-status mlnb-status-${run.status}`, text: run.status }),
      el('p', { className: 'mlnb-dim', text: `${run.experiment} · started ${run.start ?? '?'} · ${run.notebook ?? 'no notebook'}` }),
      snapshot,
      el('h3', { text: 'Params' }),
      table(['param', 'value'], Object.entries(run.params).map(([k, v]) => [k, v])),
      el('h3', { text: 'Metrics' }),
      table(['metric', 'latest', 'steps'], Object.entries(run.metrics).map(([k, v]) => [k, formatValue(v), String(run.metric_steps[k] ?? 1)])),
      charts,
      el('h3', { text: `Cells (${run.cells.length})` }),
      ...run.cells.map(cell => el('div', { className: `mlnb-cell mlnb-cell-${cell.status}` }, [
        el('div', { className: 'mlnb-dim', text: `[${cell.execution_count ?? ' '}] ${cell.status} · ${formatValue(cell.duration_s)} s` }),
        el('pre', { className: 'mlnb-code', text: cell.code }),
        cell.stdout ? el('pre', { className: 'mlnb-stdout', text: cell.stdout }) : null,
        cell.error ? el('pre', { className: 'mlnb-error', text: `${cell.error.type}: ${cell.error.message}` }) : null
      ])),
      el('h3', { text: 'Artifacts' }),
      table(['path', 'size', ''], run.artifacts.map(a => [
        a.path, `${a.size} B`,
        el('a', { text: 'download', attrs: { href: artifactUrl(run.run_id, a.path), download: a.path.split('/').pop() ?? 'artifact' } })
      ]))
    );
    for (const key of Object.keys(run.metric_steps).filter(k => run.metric_steps[k] > 1).slice(0, 8)) {
      void this.drawChart(charts, run.run_id, key);
    }
  }

  private async drawChart(into: HTMLElement, runId: string, key: string): Promise<void> {
    const history = await requestAPI<MetricHistory>(['runs', runId, 'metrics', key]);
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('width', '260');
    svg.setAttribute('height', '80');
    svg.setAttribute('class', 'mlnb-chart');
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', sparkline(history.steps, history.values, 250, 70));
    line.setAttribute('transform', 'translate(5,5)');
    svg.appendChild(line);
    into.appendChild(el('figure', { className: 'mlnb-figure' }, [svg, el('figcaption', { text: `${key} over ${history.steps.length} steps` })]));
  }
}
