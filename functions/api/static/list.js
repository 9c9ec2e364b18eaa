// The integrations list: what each one connects, whether it is on, how it has been doing.

import { api } from './api.js';
import { deliveryControls } from './delivery.js';
import { confirmDialog } from './dialog.js';
import { dig, secretPlaces, SERVER_FIELDS } from './document.js';
import {
  el, notify, pager, replace, statusBadge, timeAgo,
} from './dom.js';
import { inFlightText, summary } from './health.js';
import { can, ifCan, REASON } from './signin.js';
import { driftBadge } from './source-shape.js';
import {
  discardDraft, listDrafts, loadDraft, newDraftKey, saveDraft,
} from './stored-drafts.js';

const DAY_MS = 24 * 3600 * 1000;
const PAGE_SIZE = 50;
const STATS_AT_ONCE = 4;

function describeSource(source) {
  if (!source) return '—';
  if (source.type === 'pubsub') return `Pub/Sub ${source.topic || ''} (${source.mode || 'pull'})`;
  return source.signature ? 'Webhook, signed' : 'Webhook';
}

function describeTarget(target) {
  if (!target) return '—';
  if (target.type === 'email') return `Email to ${target.toEmail || '…'}`;
  let host = target.url || '';
  try {
    host = new URL(target.url).host;
  } catch {
    // not a URL yet: show what was typed
  }
  return `${target.method || 'POST'} ${host}`;
}

/** A copy to save as a new integration: no server fields, no secrets (they stay with the original). */
export function duplicateOf(doc) {
  const copy = structuredClone(doc);
  for (const name of SERVER_FIELDS) delete copy[name];
  copy.name = `Copy of ${doc.name}`;
  const cleared = [];
  for (const path of secretPlaces(copy)) {
    if (dig(copy, path) === undefined) continue;
    dig(copy, path.slice(0, -1))[path.at(-1)] = '';
    cleared.push(path.join('.'));
  }
  return { copy, cleared };
}

function statsCells(stats) {
  if (!stats) return ['—', '—', '—'].map((dash) => el('td', { class: 'muted' }, dash));
  const last = stats.lastRun
    ? el('td', {}, statusBadge(stats.lastRun.status), ' ', timeAgo(stats.lastRun.createdAt))
    : el('td', { class: 'muted' }, 'no runs');
  const { rate, detail } = summary(stats);
  return [last,
    el('td', { class: 'num', 'data-stat': 'rate', title: detail }, rate,
      el('span', { class: 'visually-hidden' }, ` (${detail})`)),
    el('td', { class: 'num', 'data-stat': 'inFlight' }, inFlightText(stats))];
}

// The list's filters: the hash's name, the API's, and the choices (value, label).
const FILTERS = [
  ['source', 'source_type', 'Source', [['webhook', 'Webhook'], ['pubsub', 'Pub/Sub']]],
  ['target', 'target_type', 'Target', [['http', 'HTTP'], ['email', 'Email']]],
  ['active', 'active', 'Active', [['true', 'On'], ['false', 'Off']]],
];

/** The filter form; choosing a value changes the hash (`#/integrations?source=pubsub`). */
function filterForm(query) {
  const selects = FILTERS.map(([name, , label, choices]) => {
    const wanted = query.get(name) || '';
    return [name, label, el('select', { id: `filter-${name}`, name },
      el('option', { value: '' }, 'Any'),
      choices.map(([value, text]) => el('option', { value, selected: value === wanted }, text)))];
  });
  const form = el('form', { class: 'filters list-filters', 'aria-label': 'Filter integrations' },
    selects.map(([name, label, select]) => el('div', { class: 'field' },
      el('label', { for: `filter-${name}` }, label), select)),
    el('div', { class: 'buttons' }, el('a', { href: '#/integrations', class: 'button quiet' }, 'Clear')));
  form.addEventListener('change', () => {
    const next = new URLSearchParams();
    for (const [name, , select] of selects) if (select.value) next.set(name, select.value);
    const text = next.toString();
    location.hash = text ? `#/integrations?${text}` : '#/integrations';
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  return form;
}

/** The list at `#/integrations`, filtered by the hash's query. */
export function renderList(main, query = new URLSearchParams()) {
  const filters = Object.fromEntries(FILTERS.map(([name, apiName, , choices]) => {
    const value = query.get(name);
    return [apiName, choices.some(([known]) => known === value) ? value : ''];
  }));
  const filtered = Object.values(filters).some(Boolean);
  const tbody = el('tbody');
  const results = el('div', { class: 'results', 'aria-busy': 'true' });
  const drafts = el('div');
  let stopped = false;

  // A few stats requests at a time, so that a long list does not flood the API.
  const waiting = [];
  let running = 0;
  const pump = () => {
    while (!stopped && running < STATS_AT_ONCE && waiting.length) {
      const [load, done] = waiting.shift();
      running += 1;
      load()
        .then((found) => { if (!stopped) done(found); })
        .catch(() => {}) // no stats: the cells keep their dashes
        .finally(() => { running -= 1; pump(); });
    }
  };
  const queueStats = (id, done) => {
    waiting.push([() => api.stats(id, new Date(Date.now() - DAY_MS).toISOString()), done]);
    pump();
  };
  // Drift on a path a mapping reads: a badge by the name (docs/mapping.md).
  const queueShape = (id, done) => {
    waiting.push([() => api.sourceSchema(id), done]);
    pump();
  };

  const openCopy = (doc) => {
    const { copy, cleared } = duplicateOf(doc);
    const key = newDraftKey();
    saveDraft(key, { doc: copy, sampleText: copy.samplePayload !== undefined && copy.samplePayload !== null
      ? JSON.stringify(copy.samplePayload, null, 2) : '', droppedSecrets: [] }, null);
    if (cleared.length) notify(`Secrets are not copied: enter ${cleared.join(', ')} again.`);
    location.hash = `#/new/${key}/configure`;
  };

  const row = (doc) => {
    const toggle = el('button', {
      type: 'button', role: 'switch', class: 'switch', 'aria-checked': String(doc.active !== false),
      'aria-label': `Active: ${doc.name}`,
      disabled: !can('editor'), title: can('editor') ? null : REASON.editor,
    }, el('span', { class: 'switch-knob', 'aria-hidden': 'true' }),
    el('span', { class: 'switch-text' }, doc.active !== false ? 'On' : 'Off'));
    toggle.addEventListener('click', async () => {
      toggle.disabled = true;
      try {
        const updated = await api.toggleActive(doc.id);
        doc.active = updated.active;
        toggle.setAttribute('aria-checked', String(updated.active));
        toggle.querySelector('.switch-text').textContent = updated.active ? 'On' : 'Off';
        notify(`${doc.name} is ${updated.active ? 'active' : 'paused'}.`);
      } catch (err) {
        notify(err.message, 'error');
      }
      toggle.disabled = false;
    });
    const stats = statsCells(null);
    const name = el('th', { scope: 'row' },
      el('a', { href: `#/integrations/${encodeURIComponent(doc.id)}/configure` }, doc.name),
      loadDraft(doc.id) ? el('span', { class: 'badge changed' }, 'unsaved changes') : null);
    const tr = el('tr', { 'data-id': doc.id },
      name,
      el('td', {}, describeSource(doc.source)),
      el('td', {}, doc.targets ? `${doc.targets.length} targets` : describeTarget(doc.target)),
      el('td', {}, toggle),
      el('td', {}, deliveryControls(doc)),
      stats,
      el('td', { class: 'actions' },
        el('a', { class: 'button quiet', href: `#/integrations/${encodeURIComponent(doc.id)}/configure`,
          'aria-label': `Open ${doc.name}` }, 'Open'),
        el('a', { class: 'button quiet', href: `#/history/${encodeURIComponent(doc.id)}`,
          'aria-label': `History of ${doc.name}` }, 'History'),
        ifCan('editor', el('button', { type: 'button', class: 'quiet', 'aria-label': `Duplicate ${doc.name}`,
          onclick: () => openCopy(doc) }, 'Duplicate')),
        ifCan('editor', el('button', { type: 'button', class: 'quiet danger-text', 'aria-label': `Delete ${doc.name}`,
          onclick: async () => {
            const sure = await confirmDialog({
              title: `Delete ${doc.name}?`,
              message: 'Its webhook URL stops working and its stored secrets are deleted. '
                + 'Its runs stay in the run history.',
              confirm: 'Delete',
              danger: true,
            });
            if (!sure) return;
            try {
              await api.deleteIntegration(doc.id);
              discardDraft(doc.id);
              tr.remove();
              notify(`Deleted ${doc.name}.`);
            } catch (err) {
              notify(err.message, 'error');
            }
          } }, 'Delete'))));
    queueStats(doc.id, (found) => {
      const cells = statsCells(found);
      stats.forEach((cell, i) => cell.replaceWith(cells[i]));
    });
    queueShape(doc.id, (shape) => {
      const badge = driftBadge(shape);
      if (badge) name.append(badge);
    });
    return tr;
  };

  const drawDrafts = () => {
    const fresh = listDrafts().filter((d) => d.isNew);
    if (!fresh.length) {
      drafts.replaceChildren();
      return;
    }
    replace(drafts, el('section', { class: 'card drafts', 'aria-labelledby': 'drafts-title' },
      el('h2', { id: 'drafts-title' }, 'Not saved yet'),
      el('ul', { class: 'plain' }, fresh.map((draft) => el('li', {},
        el('a', { href: `#/new/${draft.key}/configure` }, draft.name), ' ',
        el('span', { class: 'muted' }, 'edited '), timeAgo(draft.savedAt), ' ',
        el('button', { type: 'button', class: 'quiet', 'aria-label': `Discard draft ${draft.name}`,
          onclick: async () => {
            const sure = await confirmDialog({ title: `Discard ${draft.name}?`,
              message: 'This draft was never saved; it will be gone.', confirm: 'Discard', danger: true });
            if (sure) {
              discardDraft(draft.key);
              drawDrafts();
            }
          } }, 'Discard'))))));
  };

  const { more, load, stop } = pager(results,
    (cursor) => api.listIntegrations(PAGE_SIZE, cursor, filters),
    ({ integrations }, append) => {
      if (append) {
        tbody.append(...integrations.map(row));
      } else if (!integrations.length && filtered) {
        replace(results, el('div', { class: 'empty card' },
          el('p', {}, 'No integration matches these filters.'),
          el('p', {}, el('a', { href: '#/integrations' }, 'Show every integration'))));
      } else if (!integrations.length) {
        replace(results, el('div', { class: 'empty card' },
          el('p', {}, 'No integrations yet.'),
          el('p', {}, 'Create one to get a webhook URL, map its payload and send it on.')));
      } else {
        replace(tbody, integrations.map(row));
        replace(results, el('table', { class: 'table integrations' },
          el('caption', { class: 'visually-hidden' }, 'Integrations'),
          el('thead', {}, el('tr', {},
            ['Name', 'Source', 'Target', 'Active', 'Delivery', 'Last run', 'Success (24 h)',
              'In flight', 'Actions']
              .map((name) => el('th', { scope: 'col' }, name)))),
          tbody));
      }
    });

  replace(main,
    el('div', { class: 'page-head' },
      el('h1', {}, 'Integrations'),
      el('span', { class: 'spacer' }),
      ifCan('editor', el('a', { class: 'button primary', href: `#/new/${newDraftKey()}/configure`,
        id: 'new-integration' }, 'New integration'))),
    drafts, filterForm(query), results, more);
  document.title = 'Integrations · JSON mapper';
  drawDrafts();
  load();
  return {
    dispose() {
      stopped = true;
      stop();
    },
  };
}
