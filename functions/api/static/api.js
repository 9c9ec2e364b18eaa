// The management API: one fetch wrapper that adds the credential (an API key mk_... or the
// admin token) as a bearer header. It lives in sessionStorage (this tab, until it closes) and
// never in a URL.

import { FINAL_STATUSES } from './run-vocabulary.js';

const TOKEN_KEY = 'mapper.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An API answer that was not 2xx: the server's sentence, code and problems. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `the API answered ${status}`);
    this.status = status;
    this.code = (body && body.code) || 'unknown';
    this.problems = (body && body.problems) || [];
    this.body = body;
  }
}

/** `{status, ok, body}` for any answer; only a network failure throws. */
export async function request(method, path, body) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${token.get() || ''}` };
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let reply;
  try {
    reply = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { error: `cannot reach the API (${err.message})`, code: 'network' });
  }
  const text = await reply.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { error: `the API answered ${reply.status} with something not JSON`, code: 'not_json' };
    }
  }
  if (reply.status === 401) {
    token.clear();
    window.dispatchEvent(new CustomEvent('mapper:unauthorized'));
  }
  return { status: reply.status, ok: reply.ok, body: parsed };
}

/** The body of a 2xx answer; anything else throws ApiError. */
export async function call(method, path, body) {
  const reply = await request(method, path, body);
  if (!reply.ok) throw new ApiError(reply.status, reply.body);
  return reply.body;
}

const id = (value) => encodeURIComponent(value);

/** Every route the UI uses, by what it does. */
export const api = {
  /** `filters`: source_type, target_type, active ('true'/'false'); empty ones are left out. */
  listIntegrations: (limit = 200, cursor = '', filters = {}) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
    return call('GET', `/api/integrations/?${query}`);
  },
  getIntegration: (integrationId) => call('GET', `/api/integrations/${id(integrationId)}/`),
  // `force`: save even though the document's test cases fail (else 400 tests_failed).
  createIntegration: (doc, force = false) =>
    call('POST', `/api/integrations/${force ? '?force=true' : ''}`, doc),
  replaceIntegration: (integrationId, doc, force = false) =>
    call('PUT', `/api/integrations/${id(integrationId)}/${force ? '?force=true' : ''}`, doc),
  runTests: (integrationId) => call('POST', `/api/integrations/${id(integrationId)}/run_tests/`),
  runTestsUnsaved: (integration) => call('POST', '/api/run_tests/', { integration }),
  deleteIntegration: (integrationId) => call('DELETE', `/api/integrations/${id(integrationId)}/`),
  pauseDelivery: (integrationId, reason) =>
    call('POST', `/api/integrations/${id(integrationId)}/pause_delivery/`, { reason }),
  resumeDelivery: (integrationId) =>
    call('POST', `/api/integrations/${id(integrationId)}/resume_delivery/`),
  toggleActive: (integrationId) =>
    call('POST', `/api/integrations/${id(integrationId)}/toggle_active/`),
  stats: (integrationId, since) =>
    call('GET', `/api/integrations/${id(integrationId)}/stats/?since=${encodeURIComponent(since)}`),
  sourceSchema: (integrationId) =>
    call('GET', `/api/integrations/${id(integrationId)}/source_schema/`),
  sendTest: (integrationId, payload) =>
    call('POST', `/api/integrations/${id(integrationId)}/test/`, { payload }),
  publishTest: (integrationId, payload) =>
    call('POST', `/api/integrations/${id(integrationId)}/test_pubsub/`, { payload }),
  // Preview answers 422 with {error, path} when the condition or a transform fails.
  preview: (integration, payload, extra = {}) =>
    request('POST', '/api/preview/', { integration, payload, ...extra }),
  validate: (integration, checkTarget) =>
    call('POST', '/api/validate/', { integration, checkTarget }),
  listRuns: (filters = {}) => call('GET', `/api/runs/?${queryOf(filters)}`),
  getRun: (runId) => call('GET', `/api/runs/${id(runId)}/`),
  replay: (runId) => call('POST', `/api/runs/${id(runId)}/replay/`),
  // Team use, versions, backtest and redrive (docs/api.md).
  whoami: () => call('GET', '/api/whoami/'),
  listKeys: (cursor = '') => call('GET', `/api/keys/?limit=200${cursor ? `&cursor=${id(cursor)}` : ''}`),
  createKey: (body) => call('POST', '/api/keys/', body),
  revokeKey: (keyId) => call('DELETE', `/api/keys/${id(keyId)}/`),
  listAudit: (filters = {}) => call('GET', `/api/audit/?${queryOf(filters)}`),
  listVersions: (integrationId, cursor = '') => call('GET',
    `/api/integrations/${id(integrationId)}/versions/?limit=200${cursor ? `&cursor=${id(cursor)}` : ''}`),
  getVersion: (integrationId, n) =>
    call('GET', `/api/integrations/${id(integrationId)}/versions/${id(n)}/`),
  rollback: (integrationId, version) =>
    call('POST', `/api/integrations/${id(integrationId)}/rollback/`, { version }),
  backtest: (integrationId, integration, runs = {}) =>
    call('POST', `/api/integrations/${id(integrationId)}/backtest/`, { integration, runs }),
  redrive: (filter, dryRun) => call('POST', '/api/runs/redrive/', { ...filter, dryRun }),
  redriveJob: (jobId) => call('GET', `/api/runs/redrive/${id(jobId)}/`),
};

/** A query string of the filters that are set. */
function queryOf(filters) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
  return query;
}

/** Poll a run until it is final (or `timeoutMs` passes); returns the last seen run. */
export async function waitForRun(runId, { timeoutMs = 30000, onUpdate } = {}) {
  const deadline = Date.now() + timeoutMs;
  let run = null;
  for (let delay = 300; Date.now() < deadline; delay = Math.min(delay * 1.5, 2000)) {
    try {
      run = await api.getRun(runId);
      if (onUpdate) onUpdate(run);
      if (FINAL_STATUSES.has(run.status)) return run;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  return run;
}

let localMail = null;

/**
 * The local mail catcher's email target settings ({smtpServer, smtpPort, useTLS, useSSL}),
 * or null: `/_local` routes exist only in the local stack (make dev). Asked once per page.
 */
export function localMailCatcher() {
  if (!localMail) {
    localMail = fetch('/_local/mail/settings', { cache: 'no-store', credentials: 'omit' })
      .then((reply) => (reply.ok ? reply.json() : null))
      .then((body) => (body && typeof body.smtpServer === 'string' ? body : null))
      .catch(() => null);
  }
  return localMail;
}
