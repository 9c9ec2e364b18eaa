// An integration's history: every saved version (number, when, what changed), two versions
// side by side, and rollback (which saves the chosen version's content as a new version).
// `?a=&b=` are the versions compared; `?version=n` (from a run) marks the version that ran it.

import { api } from './api.js';
import { confirmDialog } from './dialog.js';
import { SERVER_FIELDS } from './document.js';
import { sideBySide } from './diff-view.js';
import { el, fullTime, notify, replace, timeAgo } from './dom.js';
import { can, REASON } from './signin.js';

/** The document's content: what a save changes (not its id, version or times). */
function content(doc) {
  const copy = { ...doc };
  for (const name of SERVER_FIELDS) delete copy[name];
  return copy;
}

function number(value) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** The History view at `#/history/{id}`. */
export function renderHistory(main, integrationId, query) {
  let stopped = false;
  const marked = number(query.get('version'));
  const head = el('h1', {}, 'History');
  const table = el('div', { class: 'results', 'aria-busy': 'true' });
  const compare = el('section', { class: 'card', 'aria-labelledby': 'compare-title' });
  const encoded = encodeURIComponent(integrationId);

  const goCompare = (a, b) => {
    const next = new URLSearchParams({ a: String(a), b: String(b) });
    if (marked) next.set('version', String(marked));
    location.hash = `#/history/${encoded}?${next}`;
  };

  const rollback = async (integration, version) => {
    const sure = await confirmDialog({
      title: `Roll back ${integration.name} to version ${version}?`,
      message: `Version ${version}'s content is saved as a new version (${integration.version + 1}); `
        + 'the versions in between stay in the history. Runs from now on use it.',
      confirm: `Roll back to version ${version}`,
      danger: true,
    });
    if (!sure) return;
    try {
      const saved = await api.rollback(integrationId, version);
      notify(`Rolled back to version ${version}: saved as version ${saved.version}.`);
      goCompare(version, saved.version);
    } catch (err) {
      notify(err.message, 'error');
    }
  };

  const drawCompare = async (a, b) => {
    replace(compare, el('h2', { id: 'compare-title' }, `Version ${a} and version ${b}`),
      el('p', { class: 'muted' }, 'Loading both versions…'));
    try {
      const [left, right] = await Promise.all([api.getVersion(integrationId, a),
        api.getVersion(integrationId, b)]);
      if (stopped) return;
      const { node, changed } = sideBySide(content(left), content(right),
        { leftTitle: `Version ${a}`, rightTitle: `Version ${b}` });
      replace(compare, el('h2', { id: 'compare-title' }, `Version ${a} and version ${b}`),
        el('p', { class: 'hint', 'data-changed-lines': String(changed) }, changed
          ? `${changed} line${changed > 1 ? 's' : ''} differ: removed on the left, added on the right.`
          : 'The two versions have the same content.'),
        el('div', { class: 'side-by-side-box' }, node));
    } catch (err) {
      replace(compare, el('h2', { id: 'compare-title' }, 'Compare'),
        el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
  };

  const draw = (integration, versions) => {
    const latest = integration.version;
    // By default the latest version against the one before it, or against the version that
    // ran the run the user came from.
    const b = number(query.get('b')) || latest;
    const a = number(query.get('a')) || (marked && marked < b ? marked : Math.max(1, b - 1));
    const pick = (id, label, value) => el('div', { class: 'field' }, el('label', { for: id }, label),
      el('select', { id }, versions.map((v) => el('option', { value: String(v.version),
        selected: v.version === value }, `Version ${v.version}`))));
    const form = el('form', { class: 'filters', 'aria-label': 'Versions to compare' },
      pick('compare-a', 'Compare', a), pick('compare-b', 'with', b),
      el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'primary' }, 'Compare')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      goCompare(form.querySelector('#compare-a').value, form.querySelector('#compare-b').value);
    });
    replace(table, el('table', { class: 'table versions-table' },
      el('caption', { class: 'visually-hidden' }, `Versions of ${integration.name}`),
      el('thead', {}, el('tr', {}, ['Version', 'Saved', 'What changed', 'Actions']
        .map((name) => el('th', { scope: 'col' }, name)))),
      el('tbody', {}, versions.map((v) => el('tr', { 'data-version': String(v.version),
        class: [v.version === marked && 'marked'] },
      el('th', { scope: 'row' }, `Version ${v.version}`,
        v.version === latest ? el('span', { class: 'badge status-success' }, 'current') : null,
        v.version === marked ? el('span', { class: 'badge changed' }, 'ran the run') : null),
      el('td', { title: fullTime(v.savedAt) }, timeAgo(v.savedAt)),
      el('td', {}, v.summary),
      el('td', { class: 'actions' },
        v.version > 1 ? el('button', { type: 'button', class: 'quiet',
          'aria-label': `Compare version ${v.version} with version ${v.version - 1}`,
          onclick: () => goCompare(v.version - 1, v.version) }, 'Changes') : null,
        v.version !== latest ? el('button', { type: 'button', class: 'quiet',
          'aria-label': `Roll back to version ${v.version}`, disabled: !can('editor'),
          title: can('editor') ? null : REASON.editor,
          onclick: () => rollback(integration, v.version) }, 'Roll back') : null))))));
    table.setAttribute('aria-busy', 'false');
    compare.before(form);
    if (versions.length > 1 || a !== b) drawCompare(a, b);
    else replace(compare, el('h2', { id: 'compare-title' }, 'Compare'),
      el('p', { class: 'empty' }, 'Only one version so far: save a change to compare.'));
  };

  const load = async () => {
    try {
      const integration = await api.getIntegration(integrationId);
      const versions = [];
      let cursor = '';
      do {
        const page = await api.listVersions(integrationId, cursor);
        versions.push(...page.versions);
        cursor = page.nextCursor;
      } while (cursor && !stopped);
      if (stopped) return;
      head.textContent = `History of ${integration.name}`;
      document.title = `History of ${integration.name} · JSON mapper`;
      draw(integration, versions);
    } catch (err) {
      if (stopped) return;
      replace(table, el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
  };

  replace(main,
    el('p', { class: 'crumbs' }, el('a', { href: '#/integrations' }, '← Integrations'), ' · ',
      el('a', { href: `#/integrations/${encoded}/configure` }, 'Open the editor'), ' · ',
      el('a', { href: `#/runs?integration=${encoded}` }, 'Runs')),
    el('div', { class: 'page-head' }, head),
    table, compare);
  document.title = 'History · JSON mapper';
  load();
  return { dispose() { stopped = true; } };
}
