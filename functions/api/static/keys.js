// API keys (admins): the list, a new key shown once with a Copy button, revoke after a
// confirmation. The key itself is only in the create answer: it is shown in this view until
// it is left, never stored.

import { api } from './api.js';
import { confirmDialog } from './dialog.js';
import { copyable, el, field, fullTime, notify, replace, timeAgo } from './dom.js';
import { can, notAllowed, whoami } from './signin.js';

const ROLE_HELP = {
  viewer: 'reads integrations, runs and stats',
  editor: 'also creates, changes, tests, replays and redrives',
  admin: 'also manages keys and reads the audit log',
};

function keyRow(key, revoke) {
  return el('tr', { 'data-key': key.id },
    el('th', { scope: 'row' }, key.name),
    el('td', {}, el('span', { class: ['badge', 'role', `role-${key.role}`] }, key.role)),
    el('td', {}, el('code', {}, key.prefix)),
    el('td', {}, timeAgo(key.createdAt), key.createdBy
      ? el('span', { class: 'muted' }, ` by ${key.createdBy.name}`) : null),
    el('td', {}, timeAgo(key.lastUsedAt)),
    el('td', {}, key.expiresAt
      ? el('span', { title: fullTime(key.expiresAt) }, timeAgo(key.expiresAt))
      : el('span', { class: 'muted' }, 'never')),
    el('td', { class: 'actions' },
      el('button', { type: 'button', class: 'quiet danger-text', 'aria-label': `Revoke ${key.name}`,
        onclick: () => revoke(key) }, 'Revoke')));
}

/** The Keys view at `#/keys`. */
export function renderKeys(main) {
  if (!can('admin')) {
    notAllowed(main, 'the API keys');
    return {};
  }
  let stopped = false;
  const results = el('div', { class: 'results', 'aria-busy': 'true' });
  const created = el('div', { 'aria-live': 'polite' });

  const revoke = async (key) => {
    const self = whoami() && whoami().keyId === key.id;
    const sure = await confirmDialog({
      title: `Revoke ${key.name}?`,
      message: `${key.prefix}… stops working at once on this instance and within 10 seconds `
        + `everywhere.${self ? ' This is the key you are signed in with.' : ''}`,
      confirm: 'Revoke',
      danger: true,
    });
    if (!sure) return;
    try {
      await api.revokeKey(key.id);
      notify(`Revoked ${key.name}.`);
      load();
    } catch (err) {
      notify(err.message, 'error');
    }
  };

  const load = async () => {
    results.setAttribute('aria-busy', 'true');
    try {
      const keys = [];
      let cursor = '';
      do {
        const page = await api.listKeys(cursor);
        keys.push(...page.keys);
        cursor = page.nextCursor;
      } while (cursor && !stopped);
      if (stopped) return;
      replace(results, keys.length
        ? el('table', { class: 'table keys-table' },
          el('caption', { class: 'visually-hidden' }, 'API keys'),
          el('thead', {}, el('tr', {}, ['Name', 'Role', 'Prefix', 'Created', 'Last used', 'Expires',
            'Actions'].map((name) => el('th', { scope: 'col' }, name)))),
          el('tbody', {}, keys.map((key) => keyRow(key, revoke))))
        : el('p', { class: 'empty' }, 'No keys yet: only the admin token signs in.'));
    } catch (err) {
      replace(results, el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
    results.setAttribute('aria-busy', 'false');
  };

  const name = el('input', { type: 'text', id: 'key-name', required: true, maxlength: 100,
    autocomplete: 'off' });
  const role = el('select', { id: 'key-role' }, Object.entries(ROLE_HELP).map(([value, help]) =>
    el('option', { value, selected: value === 'viewer' }, `${value}: ${help}`)));
  const expires = el('input', { type: 'datetime-local', id: 'key-expires' });
  const problem = el('p', { class: 'problem-text', role: 'alert' });
  const form = el('form', { class: 'card key-form', 'aria-labelledby': 'new-key-title' },
    el('h2', { id: 'new-key-title', class: 'form-title' }, 'New key'),
    field('Name', name, { hint: 'Who or what uses it, e.g. "CI deploys" or "Ana".' }),
    field('Role', role),
    field('Expires (optional)', expires, { hint: 'Local time; empty: never.' }),
    el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'primary' }, 'Create key')),
    problem);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.textContent = '';
    const body = { name: name.value.trim(), role: role.value };
    if (expires.value) body.expiresAt = new Date(expires.value).toISOString();
    try {
      const answer = await api.createKey(body);
      name.value = '';
      expires.value = '';
      replace(created, el('section', { class: 'card new-key', 'aria-labelledby': 'made-key-title' },
        el('h2', { id: 'made-key-title' }, `Key for ${answer.name} (${answer.role})`),
        el('p', { class: 'banner' }, 'Copy it now: it is shown this once and never again. '
          + 'Only its hash is stored.'),
        copyable('New API key', answer.key, { name: 'api-key' }),
        el('button', { type: 'button', class: 'quiet', onclick: () => created.replaceChildren() },
          'Done, hide it')));
      load();
    } catch (err) {
      problem.textContent = err.problems && err.problems.length
        ? err.problems.map((p) => `${p.path}: ${p.message}`).join('; ') : err.message;
    }
  });

  replace(main,
    el('div', { class: 'page-head' }, el('h1', {}, 'API keys'), el('span', { class: 'spacer' }),
      el('button', { type: 'button', class: 'quiet', onclick: () => load() }, 'Refresh')),
    el('p', { class: 'hint' }, 'Each key signs in with its role: ', Object.entries(ROLE_HELP)
      .map(([value, help], i) => [i ? '; ' : '', el('strong', {}, value), ` ${help}`]), '.'),
    created, form, results);
  document.title = 'API keys · JSON mapper';
  load();
  return { dispose() { stopped = true; created.replaceChildren(); } };
}
