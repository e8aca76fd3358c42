// Calls to the mlnb server extension through Jupyter's ServerConnection (auth and XSRF included).
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ApiErrorBody } from './types';

/** An error answered by the server, with its one-line message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
  }
}

/** The message of an error body `{"error": {"code", "message"}}`, or a fallback for anything else. */
export function parseError(status: number, body: string): ApiError {
  try {
    const parsed = JSON.parse(body) as ApiErrorBody;
    if (parsed && parsed.error && typeof parsed.error.message === 'string') {
      return new ApiError(status, parsed.error.code, parsed.error.message);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(status, 'http_error', `the server answered ${status}`);
}

/** The URL of an endpoint under /mlnb/api/ (path parts are URL-encoded one by one). */
export function apiUrl(baseUrl: string, parts: string[], query: Record<string, string | number | undefined> = {}): string {
  const path = URLExt.join(baseUrl, 'mlnb', 'api', ...parts.map(p => encodeURIComponent(p)));
  const search = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return search ? `${path}?${search}` : path;
}

/** GET or POST JSON; throws ApiError with the server's message on failure. */
export async function requestAPI<T>(
  parts: string[],
  query: Record<string, string | number | undefined> = {},
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = apiUrl(settings.baseUrl, parts, query);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(0, 'network', `cannot reach the Jupyter server: ${String(error)}`);
  }
  const text = await response.text();
  if (!response.ok) {
    throw parseError(response.status, text);
  }
  return JSON.parse(text) as T;
}

/** The download URL of an artifact (the browser's Jupyter session cookie authorizes it). */
export function artifactUrl(runId: string, path: string): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, 'mlnb', 'api', 'runs', encodeURIComponent(runId), 'artifacts',
    ...path.split('/').map(p => encodeURIComponent(p)));
}
