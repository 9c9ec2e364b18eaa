// Runs: the list with its filters (and Redrive), and one run in full with a Replay button.

import { api } from './api.js';
import {
  el, fullTime, jsonBlock, notify, pager, replace, statusBadge, timeAgo,
} from './dom.js';
import { redrivePanel } from './redrive.js';
import { FINAL_STATUSES, RUN_STATUSES, SOURCE_KINDS, STATUS } from './run-vocabulary.js';
import { can } from './signin.js';

/** A link to the version of its integration that processed `run`, or nothing. */
export function versionLink(run) {
  if (!run.integrationVersion) return null;
  return el('a', { href: `#/history/${encodeURIComponent(run.integrationId)}?version=${run.integrationVersion}`,
    'aria-label': `Version ${run.integrationVersion} of the integration`, 'data-version-link': '' },
  `v${run.integrationVersion}`);
}

function ms(value) {
  return typeof value === 'number' ? `${value.toFixed(value < 10 ? 2 : 0)} ms` : '—';
}

/**
 * A table of runs; `names` maps integration ids to names (the column is left out without);
 * `versions` adds the version that processed each run, linked to the integration's history.
 */
export function runTable(runs, { names = null, caption = 'Runs', filtered = false, versions = false } = {}) {
  if (!runs.length && filtered) {
    return el('p', { class: 'empty', 'data-empty': 'filtered' },
      'No runs match these filters. ', el('a', { href: '#/runs' }, 'Show all runs'));
  }
  if (!runs.length) return el('p', { class: 'empty', 'data-empty': 'none' }, 'No runs yet.');
  return el('table', { class: 'table runs-table' },
    el('caption', { class: 'visually-hidden' }, caption),
    el('thead', {}, el('tr', {},
      el('th', { scope: 'col' }, 'When'),
      names ? el('th', { scope: 'col' }, 'Integration') : null,
      el('th', { scope: 'col' }, 'Status'),
      versions ? el('th', { scope: 'col' }, 'Version') : null,
      el('th', { scope: 'col' }, 'Source'),
      el('th', { scope: 'col' }, 'Attempts'),
      el('th', { scope: 'col' }, 'Transform'),
      el('th', { scope: 'col' }, 'Delivery'),
      el('th', { scope: 'col' }, 'Error'))),
    el('tbody', {}, runs.map((run) => el('tr', { 'data-run': run.id },
      el('td', {}, el('a', { href: `#/runs/${encodeURIComponent(run.id)}`,
        'aria-label': `Run ${run.id}, ${run.status}` }, timeAgo(run.createdAt))),
      names ? el('td', {}, names.get(run.integrationId) || run.integrationId) : null,
      el('td', {}, statusBadge(run.status)),
      versions ? el('td', {}, versionLink(run)) : null,
      el('td', {}, run.sourceKind),
      el('td', { class: 'num' }, run.attempts ?? '—'),
      el('td', { class: 'num' }, ms(run.transformationTimeMs)),
      el('td', { class: 'num' }, ms(run.apiCallTimeMs)),
      el('td', { class: 'error-cell' }, run.errorMessage ? run.errorMessage.slice(0, 140) : '')))));
}

/** An ISO time as a datetime-local input's value, in local time. */
export function localInput(iso) {
  if (!iso) return '';
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return '';
  const local = new Date(when.getTime() - when.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

/**
 * Fill an integration filter's <select> with `integrations`, the address's choice selected
 * (its stand-in option goes once the real one is there); records each name in `names`.
 */
export function fillIntegrationFilter(select, integrations, chosenId, names) {
  if (integrations.some((item) => item.id === chosenId)) {
    select.querySelector('[data-stand-in]').remove();
  }
  for (const item of integrations) {
    names.set(item.id, item.name);
    select.append(el('option', { value: item.id, selected: item.id === chosenId }, item.name));
  }
}

/** The runs list at `#/runs?status=&integration=&since=&until=&key=&kind=&slow=`. */
export function renderRuns(main, query) {
  const filters = {
    status: query.get('status') || '',
    integration_id: query.get('integration') || '',
    since: query.get('since') || '',
    until: query.get('until') || '',
    key: query.get('key') || '',
    source_kind: query.get('kind') || '',
    min_duration_ms: query.get('slow') || '',
  };
  const names = new Map();
  const status = el('select', { id: 'filter-status' }, el('option', { value: '' }, 'Any status'),
    RUN_STATUSES.map((s) => el('option', { value: s, selected: s === filters.status }, s.replace('_', ' '))));
  // The filtered integration is an option from the start, so that Apply keeps it even before
  // the list of names has loaded.
  const integration = el('select', { id: 'filter-integration' },
    el('option', { value: '' }, 'All integrations'),
    filters.integration_id ? el('option', { value: filters.integration_id, selected: true, 'data-stand-in': '' },
      filters.integration_id) : null);
  const since = el('input', { type: 'datetime-local', id: 'filter-since', value: localInput(filters.since) });
  const until = el('input', { type: 'datetime-local', id: 'filter-until', value: localInput(filters.until) });
  const key = el('input', { type: 'search', id: 'filter-key', value: filters.key, class: 'mono',
    placeholder: 'customer.email:ada@example.com', spellcheck: 'false', 'aria-describedby': 'filter-key-hint' });
  const kind = el('select', { id: 'filter-kind' }, el('option', { value: '' }, 'Any source'),
    SOURCE_KINDS.map((k) => el('option', { value: k, selected: k === filters.source_kind }, k)));
  const slow = el('input', { type: 'number', id: 'filter-slow', min: '0', step: '1', inputmode: 'numeric',
    value: filters.min_duration_ms, placeholder: 'ms' });
  const redrive = can('editor') ? redrivePanel(filters, names) : null;
  const results = el('div', { class: 'results', 'aria-live': 'polite', 'aria-busy': 'true' });
  let runs = [];
  // With a filter set, an empty page means "nothing matches", not "nothing happened yet".
  const filtered = Object.values(filters).some(Boolean);

  const { more, load, stop } = pager(results,
    (cursor) => api.listRuns({ ...filters, limit: 50, cursor }),
    (page, append) => {
      runs = append ? runs.concat(page.runs) : page.runs;
      replace(results, runTable(runs, { names, filtered, versions: true }));
    });

  const form = el('form', { class: 'filters runs-filters', 'aria-label': 'Filter runs' },
    el('div', { class: 'field' }, el('label', { for: 'filter-status' }, 'Status'), status),
    el('div', { class: 'field' }, el('label', { for: 'filter-integration' }, 'Integration'), integration),
    el('div', { class: 'field field-time' }, el('label', { for: 'filter-since' }, 'From'), since),
    el('div', { class: 'field field-time' }, el('label', { for: 'filter-until' }, 'Until'), until),
    el('div', { class: 'field' }, el('label', { for: 'filter-kind' }, 'Source kind'), kind),
    el('div', { class: 'field field-key' }, el('label', { for: 'filter-key' }, 'Search key'), key),
    el('div', { class: 'field field-slow' }, el('label', { for: 'filter-slow' }, 'Slower than (ms)'), slow),
    el('div', { class: 'buttons' },
      el('button', { type: 'submit', class: 'primary' }, 'Apply'),
      el('a', { href: '#/runs', class: 'button quiet' }, 'Clear')),
    el('p', { class: 'hint wide', id: 'filter-key-hint' }, 'Search key: path:value, one of the '
      + 'integration\'s search keys and its exact value (not full-text). Each query uses one index: '
      + 'combine the integration with one of status, source kind, search key or slower than '
      + '(slow runs come slowest first, without From and Until).'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (status.value) next.set('status', status.value);
    if (integration.value) next.set('integration', integration.value);
    if (since.value) next.set('since', new Date(since.value).toISOString());
    if (until.value) next.set('until', new Date(until.value).toISOString());
    if (kind.value) next.set('kind', kind.value);
    if (key.value.trim()) next.set('key', key.value.trim());
    if (slow.value) next.set('slow', slow.value);
    location.hash = `#/runs?${next}`;
  });

  replace(main,
    el('div', { class: 'page-head' }, el('h1', {}, 'Runs'),
      el('button', { type: 'button', class: 'quiet', onclick: () => load() }, 'Refresh')),
    form, redrive ? redrive.root : null, results, more);
  document.title = 'Runs · JSON mapper';
  api.listIntegrations().then(({ integrations }) => {
    fillIntegrationFilter(integration, integrations, filters.integration_id, names);
    if (runs.length) replace(results, runTable(runs, { names, filtered, versions: true }));
  }).catch(() => {});
  load();
  return {
    dispose() {
      stop();
      if (redrive) redrive.dispose();
    },
  };
}

function section(title, ...content) {
  return el('section', { class: 'run-part', 'aria-label': title }, el('h2', {}, title), content);
}

/** A body that may be JSON text: shown parsed when it is, as text when not. */
export function bodyBlock(body, label) {
  if (typeof body === 'string') {
    try {
      return jsonBlock(JSON.parse(body), { 'aria-label': label });
    } catch {
      return el('pre', { class: 'json', tabindex: 0, 'aria-label': label }, body);
    }
  }
  return jsonBlock(body, { 'aria-label': label });
}

function facts(pairs) {
  return el('dl', { class: 'facts' }, pairs.filter(Boolean).map(([term, value]) =>
    el('div', {}, el('dt', {}, term), el('dd', {}, value))));
}

function requestBlocks(request, response) {
  return [
    section('Outgoing request',
      request ? [
        el('p', { class: 'mono request-line' }, `${request.method || ''} ${request.url || ''}`),
        request.headers ? el('details', {}, el('summary', {}, 'Headers'), jsonBlock(request.headers)) : null,
        bodyBlock(request.body, 'Outgoing body'),
      ] : el('p', { class: 'empty' }, 'Nothing was sent.')),
    section('Response',
      response ? [
        el('p', { class: 'mono' }, `Status ${response.status}`),
        response.headers ? el('details', {}, el('summary', {}, 'Headers'), jsonBlock(response.headers)) : null,
        bodyBlock(response.body, 'Response body'),
      ] : el('p', { class: 'empty' }, 'No response.')),
  ];
}

/**
 * A fan-out run's deliveries (docs/delivery.md, "Fan-out"): one row per target with its
 * status, attempts, answer and error, and what was sent and received to open below it.
 */
export function deliveriesTable(deliveries) {
  return el('section', { class: 'run-part', 'aria-label': 'Deliveries' },
    el('h2', {}, 'Deliveries'),
    el('table', { class: 'deliveries' },
      el('caption', { class: 'visually-hidden' }, 'One delivery per target'),
      el('thead', {}, el('tr', {}, ['Target', 'Status', 'Attempts', 'Response', 'Time', 'Error']
        .map((name) => el('th', { scope: 'col' }, name)))),
      el('tbody', {}, deliveries.flatMap((d) => [
        el('tr', { 'data-delivery': d.target },
          el('th', { scope: 'row' }, el('code', {}, d.target)),
          el('td', { 'data-field': 'status' }, statusBadge(d.status),
            d.status === STATUS.RETRYING && d.nextAttemptAt
              ? el('span', { class: 'muted' }, ` not before ${fullTime(d.nextAttemptAt)}`) : null),
          el('td', { class: 'num', 'data-field': 'attempts' }, String(d.attempts ?? '—')),
          el('td', { class: 'num', 'data-field': 'response' },
            d.outgoingResponse ? String(d.outgoingResponse.status) : '—'),
          el('td', { class: 'num' }, ms(d.apiCallTimeMs)),
          el('td', { class: 'error-cell', 'data-field': 'error' }, d.errorMessage || '')),
        el('tr', { 'data-delivery-detail': d.target },
          el('td', { colspan: 6 },
            el('details', {}, el('summary', {}, `Request and response of ${d.target}`),
              d.transformedPayload === undefined ? null
                : section('Transformed', jsonBlock(d.transformedPayload,
                  { 'aria-label': `Transformed payload for ${d.target}` })),
              el('div', { class: 'run-grid' }, requestBlocks(d.outgoingRequest || null,
                d.outgoingResponse || null))))),
      ]))));
}

/** One run at `#/runs/{id}`; polls while it is still moving. */
export function renderRun(main, runId) {
  let timer = null;
  let stopped = false;
  const draw = (run, integrationName) => {
    const fanout = Array.isArray(run.deliveries);
    const replayButton = el('button', { type: 'button', class: 'primary', id: 'replay',
      hidden: !can('editor') }, 'Replay');
    replayButton.addEventListener('click', async () => {
      replayButton.disabled = true;
      try {
        const queued = await api.replay(run.id);
        notify(`Replayed as a new run (${queued.runId}).`);
        location.hash = `#/runs/${encodeURIComponent(queued.runId)}`;
      } catch (err) {
        notify(err.message, 'error');
        replayButton.disabled = false;
      }
    });
    replace(main,
      el('p', {}, el('a', { href: '#/runs' }, '← All runs')),
      el('div', { class: 'page-head' },
        el('h1', {}, 'Run ', el('code', { class: 'run-id' }, run.id)),
        statusBadge(run.status),
        FINAL_STATUSES.has(run.status) ? null : el('span', { class: 'muted' }, 'updating…'),
        el('span', { class: 'spacer' }),
        replayButton),
      facts([
        ['Integration', el('a', { href: `#/integrations/${encodeURIComponent(run.integrationId)}/test` },
          integrationName || run.integrationId)],
        run.integrationVersion ? ['Version', el('span', {}, versionLink(run), ' ',
          el('a', { href: `#/history/${encodeURIComponent(run.integrationId)}?version=${run.integrationVersion}` },
            'see it in the history'))] : null,
        ['Source', run.sourceKind],
        ['Received', fullTime(run.createdAt)],
        ['Last update', run.updatedAt ? fullTime(run.updatedAt) : '—'],
        ['Attempts', String(run.attempts ?? '—')],
        run.status === STATUS.RETRYING && run.nextAttemptAt
          ? ['Next attempt', `not before ${fullTime(run.nextAttemptAt)}`] : null,
        ['Transform', ms(run.transformationTimeMs)],
        ['Delivery', ms(run.apiCallTimeMs)],
        run.replayOf ? ['Replay of', el('a', { href: `#/runs/${encodeURIComponent(run.replayOf)}` },
          run.replayOf)] : null,
        run.redrivenAs ? ['Resent as', el('a', { href: `#/runs/${encodeURIComponent(run.redrivenAs)}` },
          run.redrivenAs)] : null,
      ]),
      run.errorMessage ? el('div', { class: 'error-box', role: 'alert' },
        el('h2', {}, 'Error'), el('pre', { class: 'error-text', id: 'run-error' }, run.errorMessage)) : null,
      el('div', { class: 'run-grid' },
        section('Incoming',
          bodyBlock(run.incomingPayload, 'Incoming payload'),
          run.incomingHeaders && Object.keys(run.incomingHeaders).length
            ? el('details', {}, el('summary', {}, 'Headers'), jsonBlock(run.incomingHeaders)) : null,
          run.incomingAttributes && Object.keys(run.incomingAttributes).length
            ? el('details', {}, el('summary', {}, 'Attributes'), jsonBlock(run.incomingAttributes)) : null),
        section('Transformed',
          run.transformedPayload === undefined
            ? el('p', { class: 'empty' }, 'Nothing yet.')
            : jsonBlock(run.transformedPayload, { 'aria-label': 'Transformed payload' })),
        fanout ? null : requestBlocks(run.outgoingRequest || null, run.outgoingResponse || null)),
      fanout ? deliveriesTable(run.deliveries) : null);
  };

  const load = async (name, delay = 500) => {
    try {
      const run = await api.getRun(runId);
      if (stopped) return;
      if (name === undefined) {
        name = await api.getIntegration(run.integrationId).then((i) => i.name).catch(() => null);
        if (stopped) return;
      }
      draw(run, name);
      document.title = `Run ${run.status} · JSON mapper`;
      if (!FINAL_STATUSES.has(run.status)) {
        timer = setTimeout(() => load(name, Math.min(delay * 1.5, 3000)), delay);
      }
    } catch (err) {
      if (stopped) return;
      replace(main, el('p', {}, el('a', { href: '#/runs' }, '← All runs')),
        el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
  };
  replace(main, el('p', { class: 'muted' }, 'Loading the run…'));
  load();
  return {
    dispose() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
