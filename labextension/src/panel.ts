// The left-sidebar panel "mlnb": Serving, Models, Runs and Datasets of the project's store, kept live.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ApiError, requestAPI } from './api';
import { button, el } from './dom';
import {
  aliasWarning, ago, checkSummary, formatRate, formatValue, keyMetrics, latestChecks, monitorBadge, pageInfo, runLabel,
  servedLabel, serverTitle, servingHint, switchLine
} from './format';
import {
  AliasMove, DatasetsPage, ModelSummary, MonitoringCheck, MonitoringHistory, MonitoringLatest, RunsPage, ServingOverview,
  ServingServer
} from './types';

const POLL_MS = 1500;
const PAGE = 20;

export class MlnbPanel extends Widget {
  private runsOffset = 0;
  private filterText = '';
  private readonly openHistories = new Set<string>(); // models whose monitoring history is unfolded
  private timer: number | undefined;
  private readonly serving = el('div', { className: 'mlnb-section-body mlnb-serving' });
  private readonly models = el('div', { className: 'mlnb-section-body mlnb-models' });
  private readonly runs = el('div', { className: 'mlnb-section-body mlnb-runs' });
  private readonly datasets = el('div', { className: 'mlnb-section-body mlnb-datasets' });
  private readonly message = el('div', { className: 'mlnb-message' });
  private readonly filterInput = el('input', {
    className: 'jp-mod-styled mlnb-filter',
    attrs: { placeholder: "filter, e.g. status = 'failed'", 'aria-label': 'run filter' }
  });

  constructor(private readonly openRun: (runId: string) => void) {
    super();
    this.id = 'mlnb-panel';
    this.title.caption = 'mlnb: runs, models and data';
    this.addClass('mlnb-panel');
    this.filterInput.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this.filterText = this.filterInput.value.trim();
        this.runsOffset = 0;
        void this.refreshRuns();
      }
    });
    this.node.append(
      el('div', { className: 'mlnb-header' }, [
        el('span', { className: 'mlnb-title', text: 'mlnb' }),
        button('Refresh', () => void this.refresh())
      ]),
      this.message,
      section('Serving', this.serving),
      section('Models', this.models),
      section('Runs', this.runs, [this.filterInput]),
      section('Datasets', this.datasets)
    );
  }

  protected onAfterAttach(): void {
    void this.refresh();
    this.timer = window.setInterval(() => {
      if (this.isVisible) {
        void this.refreshRuns();
      }
    }, POLL_MS);
  }

  protected onBeforeDetach(): void {
    window.clearInterval(this.timer);
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    await Promise.all([this.refreshServing(), this.refreshModels(), this.refreshRuns(), this.refreshDatasets()]);
  }

  private showError(error: unknown): void {
    const text = error instanceof ApiError ? error.message : String(error);
    this.message.textContent = text;
    this.message.classList.add('mlnb-error');
  }

  private clearError(): void {
    this.message.textContent = '';
    this.message.classList.remove('mlnb-error');
  }

  async refreshRuns(): Promise<void> {
    let page: RunsPage;
    try {
      page = await requestAPI<RunsPage>(['runs'], { limit: PAGE, offset: this.runsOffset, filter: this.filterText });
    } catch (error) {
      this.showError(error);
      return;
    }
    this.clearError();
    const info = pageInfo(page.total, page.offset, page.limit);
    const list = el('ul', { className: 'mlnb-list' });
    for (const run of page.runs) {
      const metrics = Object.entries(run.metrics).slice(0, 2).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
      const item = el('li', { className: 'mlnb-run', attrs: { 'data-run-id': run.run_id, 'data-status': run.status } }, [
        el('span', { className: `mlnb-status mlnb-status-${run.status}`, text: run.status }),
        el('span', { className: 'mlnb-run-label', text: runLabel(run.run_id, run.name) }),
        el('span', { className: 'mlnb-dim', text: `${run.experiment} · ${ago(run.start)}` }),
        el('span', { className: 'mlnb-dim', text: metrics })
      ]);
      item.addEventListener('click', () => this.openRun(run.run_id));
      list.appendChild(item);
    }
    const pager = el('div', { className: 'mlnb-pager' }, [
      button('‹', () => { this.runsOffset = Math.max(0, this.runsOffset - PAGE); void this.refreshRuns(); }),
      el('span', { className: 'mlnb-page-label', text: info.label }),
      button('›', () => { this.runsOffset += PAGE; void this.refreshRuns(); })
    ]);
    (pager.children[0] as HTMLButtonElement).disabled = !info.hasPrevious;
    (pager.children[2] as HTMLButtonElement).disabled = !info.hasNext;
    this.runs.replaceChildren(page.runs.length ? list : el('p', { className: 'mlnb-dim', text: 'no runs yet' }), pager);
  }

  async refreshModels(): Promise<void> {
    let models: ModelSummary[];
    let monitoring: MonitoringLatest[];
    try {
      [models, monitoring] = await Promise.all([requestAPI<ModelSummary[]>(['models']), this.monitoringOverview()]);
    } catch (error) {
      this.showError(error);
      return;
    }
    const blocks = models.map(model => {
      const checks = latestChecks(monitoring, model.name);
      const rows = model.versions.slice().reverse().map(version => {
        const aliasSelect = el('select', { className: 'mlnb-alias-select', attrs: { 'aria-label': 'alias' } });
        const known = new Set(['champion', 'challenger', ...Object.keys(model.aliases)]);
        for (const alias of known) {
          aliasSelect.appendChild(el('option', { text: alias, attrs: { value: alias } }));
        }
        const move = button('Set', () => void this.moveAlias(model.name, aliasSelect.value, version.version, version.hidden_state));
        move.classList.add('mlnb-set-alias');
        move.title = `move the chosen alias of ${model.name} to v${version.version}`;
        const check = checks.get(version.version);
        const badge = check ? monitorBadge(check) : null;
        return el('div', { className: 'mlnb-version', attrs: { 'data-version': String(version.version) } }, [
          el('span', { className: 'mlnb-version-number', text: `v${version.version}` }),
          badge ? el('span', {
            className: `mlnb-monitor-badge mlnb-monitor-${badge.status}`, text: badge.text, title: badge.title,
            attrs: { 'data-status': badge.status }
          }) : null,
          ...version.aliases.map(a => el('span', { className: `mlnb-badge${a === 'champion' ? ' mlnb-champion' : ''}`, text: a })),
          el('span', { className: 'mlnb-dim', text: keyMetrics(version.metrics).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ') }),
          el('span', { className: 'mlnb-dim', text: version.status === 'archived' ? 'archived' : '' }),
          version.status === 'archived' ? null : el('span', { className: 'mlnb-alias-controls' }, [aliasSelect, move])
        ]);
      });
      return el('div', { className: 'mlnb-model', attrs: { 'data-model': model.name } }, [
        el('div', { className: 'mlnb-model-name', text: model.name }), ...rows,
        checks.size ? this.historyBlock(model.name) : null
      ]);
    });
    this.models.replaceChildren(...(blocks.length ? blocks : [el('p', {
      className: 'mlnb-dim', text: 'no models yet: mlnb.register_model(model, "name")'
    })]));
  }

  /** The latest check per monitored version; none when it cannot be read (a server that predates
   * monitoring, a busy index): the badges are extra, they never hide the models. */
  private async monitoringOverview(): Promise<MonitoringLatest[]> {
    try {
      return await requestAPI<MonitoringLatest[]>(['monitoring']);
    } catch (error) {
      console.warn('mlnb: monitoring status unavailable:', error instanceof ApiError ? error.message : String(error));
      return [];
    }
  }

  /** The folded "Monitoring history" of a model; its checks load when it is unfolded. */
  private historyBlock(name: string): HTMLElement {
    const list = el('ul', { className: 'mlnb-list mlnb-monitor-history' });
    const block = el('details', { className: 'mlnb-monitoring', attrs: { 'data-model': name } }, [
      el('summary', { className: 'mlnb-dim', text: 'Monitoring history' }), list
    ]);
    const load = async (): Promise<void> => {
      let checks: MonitoringCheck[];
      try {
        checks = (await requestAPI<MonitoringHistory>(['models', name, 'monitoring'])).checks;
      } catch (error) {
        list.replaceChildren(el('li', { className: 'mlnb-error', text: error instanceof ApiError ? error.message : String(error) }));
        return;
      }
      list.replaceChildren(...checks.slice().reverse().map(check => {
        const badge = monitorBadge(check);
        const scores = checkSummary(check.summary);
        return el('li', {
          className: 'mlnb-monitor-check', title: scores ? `${badge.title}\n${scores}` : badge.title,
          attrs: { 'data-check': check.check }
        }, [
          el('span', { className: `mlnb-monitor-badge mlnb-monitor-${badge.status}`, text: badge.text }),
          el('span', { text: `v${check.version}` }),
          el('span', { className: 'mlnb-dim', text: [
            (check.drifted_columns ?? []).length ? `drifted: ${check.drifted_columns.slice(0, 4).join(', ')}` : '',
            check.rows !== null && check.rows !== undefined ? `${check.rows} rows` : '',
            check.name ?? '', ago(check.t)
          ].filter(Boolean).join(' · ') })
        ]);
      }));
      if (!checks.length) {
        list.replaceChildren(el('li', { className: 'mlnb-dim', text: 'no checks yet' }));
      }
    };
    block.addEventListener('toggle', () => {
      if (block.open) {
        this.openHistories.add(name);
        void load();
      } else {
        this.openHistories.delete(name);
      }
    });
    if (this.openHistories.has(name)) {
      block.open = true; // fires "toggle": the history reloads with the panel
    }
    return block;
  }

  /** What `mlnb serve` processes serve now: model, alias -> version, shadows, req/s, url; a hint when
   * nothing is served. A server that cannot answer this (older mlnb) leaves the section empty. */
  async refreshServing(): Promise<void> {
    let overview: ServingOverview;
    try {
      overview = await requestAPI<ServingOverview>(['serving']);
    } catch (error) {
      console.warn('mlnb: serving status unavailable:', error instanceof ApiError ? error.message : String(error));
      this.serving.replaceChildren();
      return;
    }
    if (overview.servers.length) {
      this.serving.replaceChildren(...overview.servers.map(s => servingBlock(s)));
      return;
    }
    let models: ModelSummary[] = [];
    try {
      models = await requestAPI<ModelSummary[]>(['models']);
    } catch {
      // the hint then names the example model
    }
    this.serving.replaceChildren(el('p', { className: 'mlnb-dim mlnb-serving-hint' }, [
      document.createTextNode('nothing served; e.g. '),
      el('code', { text: servingHint(models, overview.hint) })
    ]));
  }

  async refreshDatasets(): Promise<void> {
    let page: DatasetsPage;
    try {
      page = await requestAPI<DatasetsPage>(['datasets'], { limit: 30 });
    } catch (error) {
      this.showError(error);
      return;
    }
    const list = el('ul', { className: 'mlnb-list' });
    for (const d of page.datasets) {
      list.appendChild(el('li', { className: 'mlnb-dataset', title: d.fingerprint }, [
        el('span', { className: 'mlnb-run-label', text: d.names.length ? d.names.join(', ') : d.kind }),
        el('span', { className: 'mlnb-dim', text: `${d.rows ?? '?'} x ${d.cols ?? '?'} · ${d.fingerprint.slice(0, 10)}` }),
        el('span', { className: 'mlnb-dim', text: `${d.runs.length} run${d.runs.length === 1 ? '' : 's'}: ${d.runs.map(r => r.slice(0, 8)).join(' ')}` })
      ]));
    }
    this.datasets.replaceChildren(page.datasets.length ? list : el('p', { className: 'mlnb-dim', text: 'no tracked data yet (%track start in a notebook)' }));
  }

  async moveAlias(name: string, alias: string, version: number, hiddenState: string | null): Promise<void> {
    const warning = aliasWarning(alias, hiddenState);
    const body = el('div', {}, [
      el('p', { text: `Move ${name}@${alias} to v${version}?` }),
      warning ? el('p', { className: 'mlnb-error', text: warning }) : null
    ]);
    const result = await showDialog({
      title: 'Move alias',
      body: new Widget({ node: body }),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Move' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await requestAPI<AliasMove>(['models', name, 'aliases'], {}, {
        method: 'POST', body: JSON.stringify({ alias, version })
      });
      this.clearError();
    } catch (error) {
      this.showError(error);
    }
    await this.refreshModels();
  }
}

function servingBlock(server: ServingServer): HTMLElement {
  const [first, ...rest] = server.served.filter(s => !s.shadow);
  const shadows = server.served.filter(s => s.shadow);
  const latest = server.switches[0];
  return el('div', {
    className: 'mlnb-served', title: serverTitle(server),
    attrs: { 'data-model': server.model, 'data-server': server.server }
  }, [
    el('div', { className: 'mlnb-served-head' }, [
      el('span', { className: 'mlnb-model-name', text: server.model }),
      el('span', { className: 'mlnb-serve-rate', text: formatRate(server.rate) })
    ]),
    el('div', { className: 'mlnb-served-aliases' }, [
      first ? el('span', {
        className: 'mlnb-badge mlnb-champion mlnb-serve-answers', text: servedLabel(first),
        attrs: { 'data-alias': first.alias, 'data-version': String(first.version) }
      }) : null,
      ...rest.map(s => el('span', {
        className: 'mlnb-badge mlnb-serve-fallback', text: servedLabel(s), title: 'answers when those before it miss the deadline',
        attrs: { 'data-alias': s.alias, 'data-version': String(s.version) }
      })),
      ...shadows.map(s => el('span', {
        className: 'mlnb-badge mlnb-serve-shadow', text: `shadow ${servedLabel(s)}`, title: 'scored on every request, never returned',
        attrs: { 'data-alias': s.alias, 'data-version': String(s.version) }
      }))
    ]),
    server.url ? el('div', { className: 'mlnb-dim mlnb-serve-url', text: server.url }) : null,
    latest ? el('div', {
      className: `mlnb-dim mlnb-serve-switch${latest.status === 'switched' ? '' : ' mlnb-error'}`, text: switchLine(latest)
    }) : null
  ]);
}

function section(title: string, body: HTMLElement, tools: HTMLElement[] = []): HTMLElement {
  return el('div', { className: 'mlnb-section', attrs: { 'data-section': title.toLowerCase() } }, [
    el('h3', { className: 'mlnb-section-title', text: title }), ...tools, body
  ]);
}
