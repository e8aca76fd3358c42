// The mlnb JupyterLab extension: a left-sidebar panel over the project's store and a run view.
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import { ApiError, requestAPI } from './api';
import { MlnbPanel } from './panel';
import { RunView } from './runview';
import { saveSnapshot } from './snapshot';
import { RunDetail } from './types';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">
<rect x="3" y="13" width="4" height="8" rx="1"/><rect x="10" y="8" width="4" height="13" rx="1"/>
<rect x="17" y="3" width="4" height="18" rx="1"/></g></svg>`;

const icon = new LabIcon({ name: 'mlnb:panel', svgstr: ICON_SVG });

const COMMAND_OPEN_RUN = 'mlnb:open-run';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mlnb:plugin',
  description: 'mlnb sidebar: runs, models and datasets of the project store',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null, palette: ICommandPalette | null) => {
    const openSnapshot = async (run: RunDetail): Promise<void> => {
      if (!run.notebook_artifact) {
        return;
      }
      const path = await saveSnapshot(app.serviceManager.contents, run);
      await app.commands.execute('docmanager:open', { path });
    };

    app.commands.addCommand(COMMAND_OPEN_RUN, {
      label: 'mlnb: Open Run',
      execute: args => {
        const runId = String(args.runId ?? '');
        const existing = Array.from(app.shell.widgets('main')).find(w => w.id === `mlnb-run-view-${runId}`);
        if (existing) {
          app.shell.activateById(existing.id);
          return;
        }
        const view = new MainAreaWidget({ content: new RunView(runId, openSnapshot) });
        view.id = `mlnb-run-view-${runId}`;
        view.title.icon = icon;
        view.title.label = `run ${runId.slice(0, 8)}`;
        view.title.closable = true;
        app.shell.add(view, 'main');
        app.shell.activateById(view.id);
      }
    });

    const panel = new MlnbPanel(runId => void app.commands.execute(COMMAND_OPEN_RUN, { runId }));
    panel.title.icon = icon;
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'mlnb-panel');
    }
    // `/lab/workspaces/mlnb` (what `make demo` opens) or `/lab?mlnb-panel` start with the panel shown
    const wanted = new URLSearchParams(window.location.search).has('mlnb-panel')
      || /\/workspaces\/mlnb\/?$/.test(window.location.pathname);
    if (wanted) {
      void app.restored.then(() => app.shell.activateById(panel.id));
    }
    if (palette) {
      palette.addItem({ command: 'mlnb:refresh', category: 'mlnb' });
    }
    app.commands.addCommand('mlnb:refresh', {
      label: 'mlnb: Refresh Panel',
      execute: () => panel.refresh()
    });
    // fail loudly in the browser console if the server side is missing
    requestAPI(['experiments']).catch((error: unknown) => {
      if (error instanceof ApiError && error.status === 404 && error.code !== 'no_store') {
        console.warn('mlnb: the mlnb server extension is not enabled (jupyter server extension list)');
      }
    });
  }
};

export default plugin;
