// The audit log (admins): every change made through the API, newest first, with who made it
// and its diff (secrets read [SECRET], as the server wrote them). Filters are in the address.

import { api } from './api.js';
import { diffTable } from './diff-view.js';
import {
  el, fullTime, jsonBlock, pager, replace, timeAgo,
} from './dom.js';
import { fillIntegrationFilter, localInput } from './runs.js';
import { can, notAllowed } from './signin.js';

const PAGE_SIZE = 50;

function targetText(entry) {
  const target = entry.target || {};
  return `${target.type || '?'}${target.id ? ` ${target.id}` : ''}`;
}

function entryCard(entry, names) {
  const actor = entry.actor || {};
  const diff = entry.diff;
  const integration = entry.integrationId
    ? el('a', { href: `#/history/${encodeURIComponent(entry.integrationId)}` },
      names.get(entry.integrationId) || entry.integrationId) : null;
  let body;
  if (Array.isArray(diff)) {
    body = diff.length ? diffTable(diff, `Changes of ${entry.action}`)
      : el('p', { class: 'empty' }, 'No change to the document.');
  } else if (diff && diff.truncated) {
    body = el('div', {}, el('p', { class: 'hint' }, `The diff was ${diff.size} bytes: the start of it.`),
      el('pre', { class: 'json' }, String(diff.preview ?? '')));
  } else {
    body = null;
  }
  return el('li', { class: 'card audit-entry', 'data-entry': entry.id, 'data-action': entry.action },
    el('div', { class: 'audit-head' },
      el('strong', { class: 'audit-action' }, entry.action), ' ',
      el('span', { class: 'muted' }, 'by '),
      el('span', { class: 'audit-actor' }, actor.name || '?'),
      actor.role ? el('span', { class: ['badge', 'role', `role-${actor.role}`] }, actor.role) : null,
      actor.keyId ? el('code', { class: 'muted' }, ` mk_${actor.keyId}`) : null,
      el('span', { class: 'spacer' }),
      el('span', { title: fullTime(entry.at) }, timeAgo(entry.at))),
    el('p', { class: 'audit-what' },
      el('code', {}, entry.route), ' on ', el('span', { class: 'audit-target' }, targetText(entry)),
      integration ? [' (', integration, ')'] : null),
    body,
    entry.details ? el('details', {}, el('summary', {}, 'Details'), jsonBlock(entry.details)) : null);
}

/** The audit log at `#/audit?integration=&key=&since=&until=`. */
export function renderAudit(main, query) {
  if (!can('admin')) {
    notAllowed(main, 'the audit log');
    return {};
  }
  const filters = {
    integration_id: query.get('integration') || '',
    key_id: query.get('key') || '',
    since: query.get('since') || '',
    until: query.get('until') || '',
  };
  let stopped = false;
  const names = new Map();
  const list = el('ol', { class: 'plain audit-list' });
  const results = el('div', { class: 'results', 'aria-live': 'polite', 'aria-busy': 'true' });

  const integration = el('select', { id: 'audit-integration' },
    el('option', { value: '' }, 'All integrations'),
    filters.integration_id ? el('option', { value: filters.integration_id, selected: true,
      'data-stand-in': '' }, filters.integration_id) : null);
  const key = el('select', { id: 'audit-key' }, el('option', { value: '' }, 'Any key'),
    filters.key_id ? el('option', { value: filters.key_id, selected: true }, filters.key_id) : null);
  const since = el('input', { type: 'datetime-local', id: 'audit-since', value: localInput(filters.since) });
  const until = el('input', { type: 'datetime-local', id: 'audit-until', value: localInput(filters.until) });

  const { more, load, stop } = pager(results,
    (cursor) => api.listAudit({ ...filters, limit: PAGE_SIZE, cursor }),
    (page, append) => {
      const cards = page.entries.map((entry) => entryCard(entry, names));
      if (append) list.append(...cards);
      else replace(list, cards);
      replace(results, list.children.length ? list
        : el('p', { class: 'empty' }, Object.values(filters).some(Boolean)
          ? 'No changes match these filters.' : 'No changes recorded yet.'));
    });

  const form = el('form', { class: 'filters', 'aria-label': 'Filter the audit log' },
    el('div', { class: 'field' }, el('label', { for: 'audit-integration' }, 'Integration'), integration),
    el('div', { class: 'field' }, el('label', { for: 'audit-key' }, 'Key'), key),
    el('div', { class: 'field' }, el('label', { for: 'audit-since' }, 'From'), since),
    el('div', { class: 'field' }, el('label', { for: 'audit-until' }, 'Until'), until),
    el('div', { class: 'buttons' },
      el('button', { type: 'submit', class: 'primary' }, 'Apply'),
      el('a', { href: '#/audit', class: 'button quiet' }, 'Clear')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (integration.value) next.set('integration', integration.value);
    if (key.value) next.set('key', key.value);
    if (since.value) next.set('since', new Date(since.value).toISOString());
    if (until.value) next.set('until', new Date(until.value).toISOString());
    location.hash = `#/audit?${next}`;
  });

  replace(main,
    el('div', { class: 'page-head' }, el('h1', {}, 'Audit log'), el('span', { class: 'spacer' }),
      el('button', { type: 'button', class: 'quiet', onclick: () => load() }, 'Refresh')),
    el('p', { class: 'hint' }, 'Every change made through the API, newest first. Secrets read '
      + '[SECRET]: neither their values nor where they are stored are kept here.'),
    form, results, more);
  document.title = 'Audit log · JSON mapper';
  api.listIntegrations().then(({ integrations }) => {
    if (stopped) return;
    fillIntegrationFilter(integration, integrations, filters.integration_id, names);
  }).catch(() => {});
  api.listKeys().then(({ keys }) => {
    if (stopped) return;
    // The address's key stays choosable even when revoked (its entries remain).
    if (filters.key_id && keys.some((item) => item.id === filters.key_id)) key.lastChild.remove();
    for (const item of keys) {
      key.append(el('option', { value: item.id, selected: item.id === filters.key_id },
        `${item.name} (${item.prefix})`));
    }
  }).catch(() => {});
  load();
  return {
    dispose() {
      stopped = true;
      stop();
    },
  };
}
