// Step 3: the preview beside its input, headers and attributes for the condition, and the
// integration's recent runs (refreshed while the step is shown).

import { api } from './api.js';
import { backtestPanel } from './backtest.js';
import { casesPanel } from './cases.js';
import { el, replace } from './dom.js';
import { runTable } from './runs.js';

const REFRESH_MS = 3000;

function parseObject(text, what) {
  if (!text.trim()) return { value: null };
  try {
    const value = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      return { error: `${what} must be a JSON object` };
    }
    return { value: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)])) };
  } catch (err) {
    return { error: `${what}: ${err.message}` };
  }
}

/**
 * `{root, history: {start, stop, refresh}}` for the integration `id` (null: not saved yet);
 * `draft` (read only) feeds "Try on recent runs".
 */
export function testStep(id, previewer, draft = null) {
  const cases = draft ? casesPanel(id, draft, previewer) : null;
  const historyArea = el('div', { 'aria-live': 'polite' });
  let timer = null;

  const refresh = async () => {
    if (!id) {
      replace(historyArea, el('p', { class: 'empty' }, 'Runs appear here once the integration is saved.'));
      return;
    }
    try {
      const { runs } = await api.listRuns({ integration_id: id, limit: 10 });
      // Redraw only when something changed, so that focus inside the table survives.
      const seen = JSON.stringify(runs.map((run) => [run.id, run.status, run.attempts]));
      if (seen === historyArea.dataset.seen) return;
      historyArea.dataset.seen = seen;
      replace(historyArea, runTable(runs, { caption: 'Recent runs of this integration' }));
    } catch (err) {
      replace(historyArea, el('p', { class: 'problem-text' }, err.message));
    }
  };

  const headers = el('textarea', { id: 'preview-headers', class: 'mono', rows: 3, spellcheck: 'false',
    placeholder: '{"X-Github-Event": "push"}' });
  const attributes = el('textarea', { id: 'preview-attributes', class: 'mono', rows: 3,
    spellcheck: 'false', placeholder: '{"severity": "critical"}' });
  const extraStatus = el('p', { class: 'hint', role: 'status' });
  const readExtras = () => {
    const h = parseObject(headers.value, 'Headers');
    const a = parseObject(attributes.value, 'Attributes');
    extraStatus.textContent = h.error || a.error || '';
    previewer.setExtras({ headers: h.value || null, attributes: a.value || null });
  };
  headers.addEventListener('input', readExtras);
  attributes.addEventListener('input', readExtras);

  const root = el('div', {},
    el('section', { class: 'card' },
      previewer.panel({ withInput: true, title: 'Preview on the sample' }),
      el('details', { class: 'extras' },
        el('summary', {}, 'Headers and attributes for the condition'),
        el('div', { class: 'grid-2' },
          el('div', { class: 'field' },
            el('label', { for: 'preview-headers' }, 'Webhook headers (JSON)'), headers),
          el('div', { class: 'field' },
            el('label', { for: 'preview-attributes' }, 'Pub/Sub attributes (JSON)'), attributes)),
        extraStatus)),
    cases ? cases.root : null,
    id && draft ? backtestPanel(id, draft) : null,
    el('section', { class: 'card', 'aria-labelledby': 'history-title' },
      el('div', { class: 'page-head' }, el('h2', { id: 'history-title' }, 'Run history'),
        el('span', { class: 'spacer' }),
        el('button', { type: 'button', class: 'quiet', onclick: refresh }, 'Refresh'),
        id ? el('a', { class: 'button quiet',
          href: `#/runs?integration=${encodeURIComponent(id)}` }, 'All runs') : null,
        id ? el('a', { class: 'button quiet',
          href: `#/history/${encodeURIComponent(id)}` }, 'History') : null),
      historyArea));

  const stop = () => clearInterval(timer);
  const start = () => {
    stop();
    refresh();
    if (cases) cases.run(); // the draft may have changed since the step was last shown
    timer = setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
  };
  return { root, history: { start, stop, refresh } };
}
