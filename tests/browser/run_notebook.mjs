#!/usr/bin/env node
// Open a notebook in a running JupyterLab in headless Chromium (playwright-core, no browser
// download), run all cells, wait for CSS selectors, take a screenshot, print a JSON result.
// Run with --help for the config format. Used by tests/browser/jupyterlab.py (run_in_browser).

import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const USAGE = `usage: node tests/browser/run_notebook.mjs --config CONFIG.json
       node tests/browser/run_notebook.mjs --json '{...}'
       node tests/browser/run_notebook.mjs --base-url URL --token TOKEN --notebook PATH
            --screenshot OUT.png [--selector CSS[@TIMEOUT_MS]]... [--timeout MS]

Flags given after --config/--json override its keys. The token may also come from $JUPYTER_TOKEN;
Chromium from $CHROMIUM (default /usr/bin/chromium).

Config keys (times in ms):
  baseUrl            JupyterLab base URL, e.g. http://127.0.0.1:8888/            (required)
  token              server token                                                  (required)
  notebook           notebook path relative to the server root                     (required)
  screenshot         PNG path for the final screenshot, also taken on failure      (required)
  selectors          [".css" | {selector, timeout=30000, minCount=1}]: each must become visible
  actions            run after the selectors are visible, in order; each is
                       {action: "click"|"dblclick"|"hover", selector, nth=0, timeout}
                       {action: "fill", selector, value} | {action: "select", selector, value}
                       {action: "press", key, selector?}  | {action: "wait", ms}
                       {action: "waitFor", selector, state="visible"|"hidden"|"attached"|"detached", timeout}
                       {action: "expectText", selector, text, timeout}   (text contained in the first match)
                       {action: "count", selector}                       (records the number of matches)
                       {action: "evaluate", expression}                  (JS in the page; result recorded)
                       {action: "screenshot", path, selector?}           (extra screenshot, page or element)
                       {action: "kernel", code, contains?}               (run code in the notebook's kernel;
                                                                          records {stdout, stderr, result, error})
                       {action: "runAll"}                                (run all cells again and wait)
                     and may carry "expect": ".css" to wait for (visible) after it.
  runAll=true        run all cells after the kernel is idle
  failOnCellErrors=true   an error output in any cell fails the run
  failOnConsoleErrors=false
  timeout=120000     whole run; readyTimeout=60000 (lab + notebook + kernel); runTimeout=60000
  viewport={width:1400,height:1000}; fitNotebook=true (grow the viewport to the whole notebook
                     for the screenshot, up to maxHeight=8000); collapseSidebars=true
  shutdownKernel=true  shut the notebook's kernel down at the end (the notebook is never saved)
  dialogsInActions=false  leave dialogs opened during the actions to them (e.g. click a confirm button)

Prints one JSON line on stdout: {ok, error, selectors:[{selector, found, count, ms}], actions,
cells, cellErrors, openWidgets, consoleErrors, pageErrors, failedRequests, dialogs, notifications, kernel,
screenshot, timings}. Exit code 0 when ok, 1 when a check failed, 2 for a usage error.`;

// ---------------------------------------------------------------------------------------------
// Config

function parseArgs(argv) {
  let config = {};
  const overrides = {};
  const selectors = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '-h': case '--help': console.log(USAGE); process.exit(0); break;
      case '--config': config = { ...config, ...JSON.parse(readFileSync(next(), 'utf8')) }; break;
      case '--json': config = { ...config, ...JSON.parse(next()) }; break;
      case '--base-url': overrides.baseUrl = next(); break;
      case '--token': overrides.token = next(); break;
      case '--notebook': overrides.notebook = next(); break;
      case '--screenshot': overrides.screenshot = next(); break;
      case '--timeout': overrides.timeout = Number(next()); break;
      case '--selector': {
        const value = next();
        const m = /^(.*)@(\d+)$/.exec(value);
        selectors.push(m ? { selector: m[1], timeout: Number(m[2]) } : { selector: value });
        break;
      }
      default: throw new UsageError(`unknown argument ${arg}`);
    }
  }
  config = { ...config, ...overrides };
  if (selectors.length) config.selectors = [...(config.selectors || []), ...selectors];
  config.token = config.token ?? process.env.JUPYTER_TOKEN;
  for (const key of ['baseUrl', 'token', 'notebook', 'screenshot']) {
    if (!config[key]) throw new UsageError(`missing ${key}`);
  }
  return {
    selectors: [],
    actions: [],
    runAll: true,
    failOnCellErrors: true,
    failOnConsoleErrors: false,
    timeout: 120000,
    readyTimeout: 60000,
    runTimeout: 60000,
    viewport: { width: 1400, height: 1000 },
    fitNotebook: true,
    maxHeight: 8000,
    collapseSidebars: true,
    shutdownKernel: true,
    ...config,
    baseUrl: config.baseUrl.endsWith('/') ? config.baseUrl : `${config.baseUrl}/`,
    selectors: (config.selectors || []).map((s) => (typeof s === 'string' ? { selector: s } : s)),
  };
}

class UsageError extends Error {}
class CheckError extends Error {}

// ---------------------------------------------------------------------------------------------
// Helpers

const t0 = Date.now();
const log = (...args) => console.error(`[run_notebook +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...args);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function poll(fn, { timeout, interval = 200, what }) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new CheckError(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

// Dismiss JupyterLab dialogs and notification toasts; record what they said. Runs in the page.
// "Select Kernel" is accepted (the default kernel); any other dialog is dismissed.
function handleDialogsInPage() {
  const seen = { dialogs: [], notifications: [] };
  for (const dialog of document.querySelectorAll('.jp-Dialog:not([data-run-notebook-handled])')) {
    dialog.setAttribute('data-run-notebook-handled', '1');
    const title = (dialog.querySelector('.jp-Dialog-header')?.textContent || '').trim();
    const body = (dialog.querySelector('.jp-Dialog-body')?.textContent || '').trim().slice(0, 500);
    const buttons = [...dialog.querySelectorAll('.jp-Dialog-footer button')];
    const accept = buttons.find((b) => b.classList.contains('jp-mod-accept'));
    const reject = buttons.find((b) => b.classList.contains('jp-mod-reject'));
    let choice;
    let button;
    if (/kernel/i.test(title) && /select/i.test(title)) {
      choice = 'accept';
      button = accept;
    } else {
      choice = 'dismiss';
      button = reject || dialog.querySelector('.jp-Dialog-close-button') || accept;
    }
    if (button) button.click();
    else dialog.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    seen.dialogs.push({ title, body, choice, button: button ? button.textContent.trim() : 'Escape' });
  }
  for (const toast of document.querySelectorAll('.Toastify__toast:not([data-run-notebook-handled])')) {
    toast.setAttribute('data-run-notebook-handled', '1');
    seen.notifications.push((toast.textContent || '').trim().slice(0, 500));
    const close = toast.querySelector('.Toastify__close-button, .jp-Notification-Toast-Close, button[aria-label*="lose" i]');
    if (close) close.click();
  }
  return seen;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  let config;
  try {
    config = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`run_notebook: ${err.message}\n\n${USAGE}`);
    process.stdout.write(`${JSON.stringify({ ok: false, error: `usage: ${err.message}` })}\n`);
    process.exit(2);
  }

  const result = {
    ok: false,
    error: null,
    notebook: config.notebook,
    url: null,
    selectors: config.selectors.map((s) => ({ selector: s.selector, found: false, count: 0, ms: null })),
    actions: [],
    cells: [],
    cellErrors: [],
    consoleErrors: [],
    pageErrors: [],
    failedRequests: [],
    dialogs: [],
    notifications: [],
    kernel: null,
    screenshot: null,
    timings: {},
  };
  const mark = (name) => { result.timings[name] = Date.now() - t0; };
  const redact = (text) => String(text).split(config.token).join('<token>');

  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  let browser;
  let page;
  let dialogTimer;
  let finishing = false;
  const finish = async (code) => {
    if (finishing) return;
    finishing = true;
    if (dialogTimer) clearInterval(dialogTimer);
    let written = false;
    const write = () => {
      if (written) return;
      written = true;
      process.stdout.write(`${redact(JSON.stringify(result))}\n`);
    };
    // Screenshot, kernel shutdown and browser close get 10 s at most, then report anyway.
    setTimeout(() => {
      result.error = result.error || 'timed out while taking the screenshot / closing the browser';
      write();
      process.exit(code || 1);
    }, 10000);
    if (page) {
      try {
        await takeScreenshot(page, config, result);
      } catch (err) {
        log(`screenshot failed: ${err.message}`);
        result.screenshotError = err.message;
      }
      if (config.shutdownKernel) {
        // Do not leave the kernel running on the server for the next run (closing the browser
        // does not end the session). The notebook is left unsaved.
        await Promise.race([
          page.evaluate((path) => {
            const panel = [...(window.jupyterapp?.shell.widgets('main') || [])].find((w) => w.context?.path === path);
            return panel?.sessionContext.shutdown();
          }, config.notebook),
          sleep(5000),
        ]).catch((err) => log(`kernel shutdown failed: ${err.message}`));
      }
    }
    mark('done');
    if (browser) await browser.close().catch(() => {});
    write();
    process.exit(code);
  };

  const hardTimeout = setTimeout(() => {
    result.error = `overall timeout of ${config.timeout} ms exceeded (stage: ${result.stage})`;
    log(result.error);
    finish(1);
  }, config.timeout);

  try {
    result.stage = 'launch';
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    mark('browserLaunched');
    const context = await browser.newContext({ viewport: config.viewport, deviceScaleFactor: 1 });
    page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error') {
        const loc = msg.location();
        result.consoleErrors.push(redact(`${msg.text()}${loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`).slice(0, 1000));
      }
    });
    page.on('pageerror', (err) => result.pageErrors.push(redact(err.stack || err.message).slice(0, 2000)));
    page.on('requestfailed', (req) => {
      if (result.failedRequests.length < 50) {
        result.failedRequests.push(redact(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`));
      }
    });
    page.on('dialog', (d) => { result.dialogs.push({ title: `native ${d.type()}`, body: d.message() }); d.dismiss().catch(() => {}); });

    const nbUrl = `${config.baseUrl}lab/tree/${config.notebook.split('/').map(encodeURIComponent).join('/')}`;
    result.url = nbUrl;
    result.stage = 'load';
    log(`opening ${nbUrl}`);
    // ?reset: start from an empty workspace, so notebooks opened by earlier runs against the same
    // server are not restored next to this one (their outputs would match the selectors too).
    await page.goto(`${nbUrl}?reset&token=${encodeURIComponent(config.token)}`, {
      waitUntil: 'domcontentloaded', timeout: config.readyTimeout,
    });

    const sweepDialogs = async () => {
      try {
        const seen = await page.evaluate(handleDialogsInPage);
        for (const d of seen.dialogs) { log(`dialog "${d.title}": ${d.choice}`); result.dialogs.push(d); }
        for (const n of seen.notifications) { log(`notification: ${n}`); result.notifications.push(n); }
      } catch { /* navigation in progress */ }
    };
    dialogTimer = setInterval(sweepDialogs, 300);

    // JupyterLab started (window.jupyterapp needs LabApp.expose_app_in_browser, which the python
    // helper sets) and the notebook panel open with a live, idle kernel.
    const loaded = await poll(() => page.evaluate(() => {
      if (window.jupyterapp) return 'app';
      if (/\/login\b/.test(window.location.pathname) || document.querySelector('input[type="password"]')) return 'login';
      return null;
    }).catch(() => null), { timeout: config.readyTimeout, what: 'JupyterLab' }).catch(() => 'timeout');
    if (loaded === 'login') throw new CheckError(`JupyterLab shows its login page: wrong token? (${redact(page.url())})`);
    if (loaded !== 'app') {
      throw new CheckError(`window.jupyterapp did not appear within ${config.readyTimeout} ms: JupyterLab did not `
        + 'start, or the server does not run with LabApp.expose_app_in_browser=True (the python helper sets it)');
    }
    await page.evaluate(async () => { await window.jupyterapp.started; await window.jupyterapp.restored; });
    mark('labRestored');
    result.stage = 'notebook';
    const readyDeadline = Date.now() + config.readyTimeout;
    await poll(() => page.evaluate((path) => {
      const panel = [...window.jupyterapp.shell.widgets('main')].find((w) => w.context?.path === path);
      return !!panel && panel.context.isReady;
    }, config.notebook), { timeout: Math.max(1000, readyDeadline - Date.now()), what: `notebook ${config.notebook} to open` });
    result.stage = 'kernel';
    const kernel = await poll(() => page.evaluate((path) => {
      const panel = [...window.jupyterapp.shell.widgets('main')].find((w) => w.context?.path === path);
      const ctx = panel.sessionContext;
      const k = ctx.session?.kernel;
      if (!ctx.isReady || !k || k.status !== 'idle' || k.connectionStatus !== 'connected') return null;
      return { name: k.name, status: k.status, id: k.id, displayName: ctx.kernelDisplayName };
    }, config.notebook), { timeout: Math.max(1000, readyDeadline - Date.now()), what: 'the kernel to be idle' })
      .catch(async (err) => {
        const state = await page.evaluate((path) => {
          const panel = [...window.jupyterapp.shell.widgets('main')].find((w) => w.context?.path === path);
          const ctx = panel?.sessionContext;
          return { hasNoKernel: ctx?.hasNoKernel, status: ctx?.session?.kernel?.status, display: ctx?.kernelDisplayName };
        }, config.notebook).catch(() => ({}));
        throw new CheckError(`${err.message} (kernel state: ${JSON.stringify(state)})`);
      });
    result.kernel = kernel;
    result.openWidgets = await page.evaluate(() => [...window.jupyterapp.shell.widgets('main')].map((w) => w.title.label));
    mark('kernelIdle');
    log(`kernel ${kernel.name} idle`);

    if (config.collapseSidebars) {
      await page.evaluate(() => {
        const { shell } = window.jupyterapp;
        shell.collapseLeft?.();
        shell.collapseRight?.();
      });
    }

    if (config.runAll) {
      await runAllCells(page, config, result);
      mark('cellsRun');
    }

    result.stage = 'selectors';
    await waitForSelectors(page, config, result);
    mark('selectorsFound');

    result.stage = 'actions';
    if (config.dialogsInActions) clearInterval(dialogTimer);  // the actions answer dialogs themselves
    for (const action of config.actions) {
      if (!config.dialogsInActions) await sweepDialogs();
      await runAction(page, config, result, action);
    }
    mark('actionsDone');

    result.stage = 'checks';
    const missing = result.selectors.filter((s) => !s.found);
    const problems = [];
    if (missing.length) problems.push(`selector(s) not visible: ${missing.map((s) => `${s.selector} (${s.error})`).join('; ')}`);
    if (config.failOnCellErrors && result.cellErrors.length) {
      problems.push(`cell error(s): ${result.cellErrors.map((e) => `cell ${e.cell}: ${e.ename}: ${e.evalue}`).join('; ')}`);
    }
    if (config.failOnConsoleErrors && (result.consoleErrors.length || result.pageErrors.length)) {
      problems.push(`console errors: ${[...result.pageErrors, ...result.consoleErrors].slice(0, 5).join(' | ')}`);
    }
    const failedAction = result.actions.find((a) => !a.ok);
    if (failedAction) problems.push(`action ${failedAction.index} (${failedAction.action}) failed: ${failedAction.error}`);
    if (problems.length) throw new CheckError(problems.join(' / '));
    result.ok = true;
    result.stage = 'done';
    clearTimeout(hardTimeout);
    await finish(0);
  } catch (err) {
    clearTimeout(hardTimeout);
    if (finishing) return; // the overall timeout already reported (and closed the browser)
    result.error = redact(err instanceof CheckError ? err.message : (err.stack || err.message || String(err)));
    log(`FAILED at stage ${result.stage}: ${result.error}`);
    await finish(1);
  }
}

async function runAllCells(page, config, result) {
  result.stage = 'run';
  log('running all cells');
  // The notebook is the current widget; its "Run All Cells" command (= Run menu > Run All Cells)
  // resolves after the last cell ran, or stops at the first error.
  const run = page.evaluate(async (path) => {
    const app = window.jupyterapp;
    const panel = [...app.shell.widgets('main')].find((w) => w.context?.path === path);
    app.shell.activateById(panel.id);
    await app.commands.execute('notebook:run-all-cells');
  }, config.notebook);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckError(`cells still running after ${config.runTimeout} ms`)), config.runTimeout);
  });
  try {
    await Promise.race([run, timeout]);
    await poll(() => page.evaluate((path) => {
      const panel = [...window.jupyterapp.shell.widgets('main')].find((w) => w.context?.path === path);
      const k = panel.sessionContext.session?.kernel;
      const running = panel.content.widgets.some((c) => c.model.type === 'code' && c.model.executionState === 'running');
      return !running && k?.status === 'idle';
    }, config.notebook), { timeout: config.runTimeout, what: 'the kernel to be idle after running all cells' });
  } finally {
    clearTimeout(timer);
    await collectCells(page, config, result).catch((err) => log(`could not read cells: ${err.message}`));
  }
  const ran = result.cells.filter((c) => c.type === 'code' && c.executionCount !== null).length;
  log(`ran ${ran} code cell(s), ${result.cellErrors.length} error(s)`);
}

async function collectCells(page, config, result) {
  const cells = await page.evaluate((path) => {
    const panel = [...window.jupyterapp.shell.widgets('main')].find((w) => w.context?.path === path);
    return panel.content.widgets.map((cell, index) => {
      const model = cell.model;
      const outputs = model.type === 'code' ? model.outputs.toJSON() : [];
      return {
        index,
        type: model.type,
        executionCount: model.type === 'code' ? model.executionCount : null,
        outputTypes: outputs.map((o) => o.output_type === 'display_data' || o.output_type === 'execute_result'
          ? Object.keys(o.data || {}).join('+') : o.output_type),
        errors: outputs.filter((o) => o.output_type === 'error')
          .map((o) => ({ ename: o.ename, evalue: String(o.evalue).slice(0, 1000) })),
        stderr: outputs.filter((o) => o.output_type === 'stream' && o.name === 'stderr')
          .map((o) => (Array.isArray(o.text) ? o.text.join('') : String(o.text)).slice(0, 1000)),
      };
    });
  }, config.notebook);
  result.cells = cells.map(({ errors, ...rest }) => rest);
  result.cellErrors = cells.flatMap((c) => c.errors.map((e) => ({ cell: c.index, ...e })));
}

async function waitForSelectors(page, config, result) {
  // All selectors wait concurrently: the slowest one bounds the time, not the sum.
  await Promise.all(config.selectors.map(async (spec, i) => {
    const entry = result.selectors[i];
    const started = Date.now();
    // After a cell error the run is failing anyway (and later cells did not run): do not wait long.
    const failing = config.failOnCellErrors && result.cellErrors.length > 0;
    const timeout = failing ? Math.min(2000, spec.timeout ?? 30000) : (spec.timeout ?? 30000);
    const minCount = spec.minCount ?? spec.min_count ?? 1;
    const locator = page.locator(spec.selector);
    try {
      await locator.first().waitFor({ state: 'visible', timeout });
      if (minCount > 1) {
        await poll(async () => (await locator.count()) >= minCount,
          { timeout: Math.max(0, timeout - (Date.now() - started)), what: `${minCount} matches` });
      }
      entry.found = true;
    } catch (err) {
      entry.error = err instanceof CheckError ? err.message : `not visible within ${timeout} ms`;
    }
    entry.count = await locator.count().catch(() => 0);
    entry.ms = Date.now() - started;
    log(`${entry.found ? 'found' : 'MISSING'} ${spec.selector} (count ${entry.count}, ${entry.ms} ms)`);
  }));
}

async function runAction(page, config, result, action) {
  const index = result.actions.length;
  const entry = { index, action: action.action, selector: action.selector, ok: false, ms: null };
  result.actions.push(entry);
  if (result.actions.slice(0, -1).some((a) => !a.ok)) {
    entry.error = 'skipped after an earlier failed action';
    return;
  }
  const started = Date.now();
  const timeout = action.timeout ?? 10000;
  const target = () => {
    if (!action.selector) throw new UsageError(`action ${action.action} needs a selector`);
    return page.locator(action.selector).nth(action.nth ?? 0);
  };
  try {
    switch (action.action) {
      case 'click': await target().click({ timeout }); break;
      case 'dblclick': await target().dblclick({ timeout }); break;
      case 'hover': await target().hover({ timeout }); break;
      case 'fill': await target().fill(String(action.value ?? ''), { timeout }); break;
      case 'select': await target().selectOption(action.value, { timeout }); break;
      case 'press':
        if (action.selector) await target().press(action.key, { timeout });
        else await page.keyboard.press(action.key);
        break;
      case 'wait': await sleep(action.ms ?? 500); break;
      case 'waitFor': await target().waitFor({ state: action.state ?? 'visible', timeout }); break;
      case 'count': entry.value = await page.locator(action.selector).count(); break;
      case 'expectText':
        await poll(async () => ((await target().textContent({ timeout })) || '').includes(action.text),
          { timeout, what: `"${action.text}" in ${action.selector}` });
        break;
      case 'evaluate':
        entry.value = await page.evaluate((expression) => {
          // eslint-disable-next-line no-eval
          const value = (0, eval)(expression);
          return Promise.resolve(value).then((v) => JSON.parse(JSON.stringify(v ?? null)));
        }, action.expression);
        break;
      case 'screenshot': {
        const path = resolve(action.path);
        mkdirSync(dirname(path), { recursive: true });
        if (action.selector) await target().screenshot({ path, timeout });
        else await page.screenshot({ path, fullPage: true });
        entry.value = path;
        break;
      }
      case 'kernel': {
        // Run code in the notebook's kernel (not in a cell), e.g. to check the Python side of a
        // widget after a click. Fails on an exception, or when "contains" is not in the output.
        entry.value = await kernelExecute(page, config.notebook, action.code, timeout);
        const output = `${entry.value.stdout}${entry.value.result ?? ''}`;
        if (entry.value.error) throw new Error(`kernel code raised ${entry.value.error}`);
        if (action.contains !== undefined && !output.includes(action.contains)) {
          throw new Error(`kernel output ${JSON.stringify(output.slice(0, 300))} lacks ${JSON.stringify(action.contains)}`);
        }
        break;
      }
      case 'runAll': await runAllCells(page, config, result); break;
      default: throw new UsageError(`unknown action ${JSON.stringify(action.action)}`);
    }
    if (action.expect) await page.locator(action.expect).first().waitFor({ state: 'visible', timeout });
    entry.ok = true;
  } catch (err) {
    entry.error = (err.message || String(err)).split('\n')[0];
  }
  entry.ms = Date.now() - started;
  log(`action ${index} ${action.action} ${action.selector || ''}: ${entry.ok ? 'ok' : entry.error}`);
}

async function kernelExecute(page, path, code, timeout) {
  return page.evaluate(async ({ path, code, timeout }) => {
    const panel = [...window.jupyterapp.shell.widgets('main')].find((w) => w.context?.path === path);
    const future = panel.sessionContext.session.kernel.requestExecute({ code, store_history: false });
    const out = { stdout: '', stderr: '', result: null, error: null };
    future.onIOPub = (msg) => {
      const c = msg.content;
      if (msg.header.msg_type === 'stream') out[c.name === 'stderr' ? 'stderr' : 'stdout'] += c.text;
      else if (msg.header.msg_type === 'execute_result') out.result = c.data['text/plain'] ?? null;
      else if (msg.header.msg_type === 'error') out.error = `${c.ename}: ${c.evalue}`;
    };
    await Promise.race([future.done, new Promise((_, reject) => setTimeout(
      () => reject(new Error(`kernel code still running after ${timeout} ms`)), timeout))]);
    return out;
  }, { path, code, timeout });
}

async function takeScreenshot(page, config, result) {
  const path = resolve(config.screenshot);
  mkdirSync(dirname(path), { recursive: true });
  if (config.fitNotebook) {
    // JupyterLab fills the viewport and scrolls the notebook inside it: a "full page" screenshot
    // is only the viewport. Grow the viewport by the notebook's hidden height and scroll it to
    // the top (running all cells left it scrolled to the last cell).
    const extra = await page.evaluate(() => {
      const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find((p) => p.offsetParent !== null);
      const scroller = panel && (panel.querySelector('.jp-WindowedPanel-outer') || panel.querySelector('.jp-Notebook'));
      const cells = panel ? [...panel.querySelectorAll('.jp-Cell')] : [];
      if (!scroller || !cells.length) return 0;
      // Bottom of the last cell in the scroller's content coordinates (the notebook pads its end
      // for "scroll past end", so scrollHeight overstates the content).
      const top = scroller.getBoundingClientRect().top;
      const bottom = Math.max(...cells.map((c) => c.getBoundingClientRect().bottom)) - top + scroller.scrollTop;
      scroller.scrollTop = 0;
      return Math.max(0, Math.ceil(bottom + 24 - scroller.clientHeight));
    }).catch(() => 0);
    if (extra > 0) {
      const { width, height } = config.viewport;
      await page.setViewportSize({ width, height: Math.min(config.maxHeight, height + extra) });
    }
    await sleep(300); // let widgets (plotly) react to the resize, the notebook repaint
  }
  await page.screenshot({ path, fullPage: true, timeout: 8000 });
  result.screenshot = path;
  log(`screenshot ${path}`);
}

main();
