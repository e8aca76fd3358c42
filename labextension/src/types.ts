// Wire types of the mlnb server API (/mlnb/api/...), in one place. They mirror mlnb/store/browse.py.

export type RunStatus = 'running' | 'finished' | 'failed' | 'crashed' | 'killed';

export interface RunSummary {
  run_id: string;
  experiment: string;
  name: string | null;
  status: RunStatus;
  start: string | null;
  end: string | null;
  parent_run_id: string | null;
  params: Record<string, string | number | null>;
  metrics: Record<string, number | string | null>;
}

export interface RunsPage {
  runs: RunSummary[];
  total: number;
  offset: number;
  limit: number;
}

export interface CellOutput {
  type: string;
  'text/plain'?: string;
  'text/html'?: string;
  artifact?: { hash: string; size: number; media_type: string };
}

export interface CellRecord {
  seq: number;
  execution_count: number | null;
  cell_id: string | null;
  code: string;
  status: string;
  duration_s: number | null;
  start: string | null;
  stdout: string | null;
  error: { type: string; message: string; traceback?: string } | null;
  outputs: CellOutput[];
}

export interface ArtifactRecord {
  path: string;
  hash: string;
  size: number;
  media_type: string | null;
  created: string | null;
}

export interface RunDetail extends Omit<RunSummary, 'params' | 'metrics'> {
  user: string | null;
  host: string | null;
  notebook: string | null;
  git_commit: string | null;
  params: Record<string, string>;
  metrics: Record<string, number | string | null>;
  tags: Record<string, string>;
  artifacts: ArtifactRecord[];
  cells: CellRecord[];
  lineage: { src_kind: string; src_id: string; dst_kind: string; dst_id: string; relation: string }[];
  metric_steps: Record<string, number>;
  notebook_artifact: string | null;
}

export interface MetricHistory {
  key: string;
  steps: number[];
  values: (number | string | null)[];
}

export interface ModelVersion {
  version: number;
  status: string;
  aliases: string[];
  run_id: string | null;
  flavor: string | null;
  size: number | null;
  hidden_state: string | null;
  description: string | null;
  created: string | null;
  metrics: Record<string, number>;
}

export interface ModelSummary {
  name: string;
  versions: ModelVersion[];
  latest: number;
  aliases: Record<string, number>;
  last_registered: string | null;
}

export interface DatasetSummary {
  fingerprint: string;
  kind: string;
  rows: number | null;
  cols: number | null;
  first_seen: string | null;
  runs: string[];
  names: string[];
}

export interface DatasetsPage {
  datasets: DatasetSummary[];
  total: number;
  offset: number;
  limit: number;
}

export interface AliasMove {
  name: string;
  alias: string;
  version: number;
  history: { alias: string; from_version: number | null; to_version: number | null; reason: string | null }[];
}

/** Overall status of a monitoring check (mlnb.monitor): drift also when validation failed. */
export type MonitorStatus = 'ok' | 'warn' | 'drift';

/** GET /mlnb/api/monitoring: the latest check of each monitored model version (mlnb/model_monitoring/views.py). */
export interface MonitoringLatest {
  model: string;
  version: number;
  status: MonitorStatus;
  validation: 'pass' | 'fail' | null;
  t: string | null;
  rows: number | null;
  drifted: number | null;
  check: string;
  checks: number;
}

/** One check in a model's monitoring history. */
export interface MonitoringCheck {
  check: string;
  version: number;
  t: string | null;
  rows: number | null;
  status: MonitorStatus;
  validation: 'pass' | 'fail' | null;
  drifted: number | null;
  drifted_columns: string[];
  name: string | null;
  fingerprint: string | null;
  summary: Record<string, { status: string; score: number | string | null }>;
}

/** GET /mlnb/api/models/<name>/monitoring: the checks of a model (or `name/3`: of one version), oldest first. */
export interface MonitoringHistory {
  model: string;
  version: number | null;
  checks: MonitoringCheck[];
  latest: Record<string, MonitorStatus>;
}

/** One alias (or URI) a server serves, in preference order: the first answers, shadows are only scored. */
export interface ServedAlias {
  uri: string; // as served: `churn@champion`, `churn/3`
  alias: string; // its label: the alias (`champion`), else the URI
  version: number | null;
  shadow: boolean;
}

/** An alias move a server made live (or failed to make). */
export interface ServeSwitch {
  alias: string;
  from: number | null;
  to: number | null;
  t: string | null;
  status: string;
  ms: number | null;
  err: string | null;
}

/** One running `mlnb serve` process, from its latest heartbeat (mlnb/serving/views.py). */
export interface ServingServer {
  server: string;
  model: string;
  url: string | null;
  host: string | null;
  pid: number | null;
  served: ServedAlias[];
  shadows: string[];
  requests: number | null;
  recent: number;
  rate: number;
  deadline_ms: number | null;
  started: string | null;
  t: string | null;
  switches: ServeSwitch[];
}

/** GET /mlnb/api/serving: the servers alive now (heartbeat within `stale_after_s`), by model. */
export interface ServingOverview {
  servers: ServingServer[];
  window_s: number;
  stale_after_s: number;
  hint: string;
}

export interface ApiErrorBody {
  error: { code: string; message: string };
}
