// The visual mapper: sign in, then a hash router over the views.
//   #/integrations            the list          (list.js)
//   #/integrations/{id}/{step} an integration    (editor.js)
//   #/new/{draft key}/{step}  a new integration (editor.js)
//   #/runs?filters            runs              (runs.js)
//   #/runs/{id}               one run           (runs.js)

import { api, ApiError, token } from './api.js';
import { el, replace } from './dom.js';
import { renderEditor } from './editor.js';
import { renderList } from './list.js';
import { renderRun, renderRuns } from './runs.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOutButton = document.getElementById('sign-out');
let view = null;
let lastHash = null;

function parse(hash) {
  const [path, query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function signIn(message) {
  if (view && view.dispose) view.dispose();
  view = null;
  nav.hidden = true;
  signOutButton.hidden = true;
  const input = el('input', { type: 'password', id: 'token', autocomplete: 'off', spellcheck: 'false',
    required: true, 'aria-describedby': 'token-hint' });
  const problem = el('p', { class: 'problem-text', id: 'sign-in-problem', role: 'alert' }, message || '');
  const form = el('form', { class: 'card sign-in', 'aria-labelledby': 'sign-in-title' },
    el('h1', { id: 'sign-in-title' }, 'Sign in'),
    el('div', { class: 'field' }, el('label', { for: 'token' }, 'Admin token'), input,
      el('p', { class: 'hint', id: 'token-hint' },
        'The ADMIN_TOKEN of this deployment. It is kept in this tab only, until you close it.')),
    problem,
    el('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.textContent = '';
    token.set(input.value.trim());
    try {
      await api.listIntegrations(1);
      route(true);
    } catch (err) {
      token.clear();
      problem.textContent = err instanceof ApiError && err.status === 401
        ? 'That token was refused.' : err.message;
      input.focus();
    }
  });
  replace(main, form);
  document.title = 'Sign in · JSON mapper';
  input.focus();
}

function route(force = false) {
  if (!token.get()) {
    signIn();
    return;
  }
  nav.hidden = false;
  signOutButton.hidden = false;
  const hash = location.hash && location.hash.startsWith('#/') ? location.hash : '#/integrations';
  if (hash === lastHash && !force) return;
  lastHash = hash;
  const { parts, query } = parse(hash);
  const [section, id, step] = parts;
  for (const link of nav.querySelectorAll('a')) {
    const current = link.dataset.nav === (section === 'new' ? 'integrations' : section);
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const editorRoute = section === 'integrations' && id ? { id, step }
    : section === 'new' && id ? { key: id, step } : null;
  if (editorRoute && view && view.update && view.update(editorRoute)) return;
  if (view && view.dispose) view.dispose();
  if (editorRoute) view = renderEditor(main, editorRoute);
  else if (section === 'runs' && id) view = renderRun(main, id);
  else if (section === 'runs') view = renderRuns(main, query);
  else view = renderList(main);
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', () => route());
window.addEventListener('mapper:unauthorized', () => {
  if (view === null) return; // the sign-in form itself says that the token was refused
  lastHash = null;
  signIn('Your session ended or the token was refused; sign in again. Your drafts are kept.');
});
signOutButton.addEventListener('click', () => {
  token.clear();
  lastHash = null;
  signIn();
});
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
route();
