// The visual mapper: sign in, then a hash router over the views.
//   #/integrations            the list          (list.js)
//   #/integrations/{id}/{step} an integration    (editor.js)
//   #/new/{draft key}/{step}  a new integration (editor.js)
//   #/runs?filters            runs              (runs.js)
//   #/runs/{id}               one run           (runs.js)
//   #/history/{id}?a=&b=      an integration's versions (history.js)
//   #/keys                    API keys, admins  (keys.js)
//   #/audit?filters           the audit log, admins (audit.js)
// Sign-in and what the signed-in role may see: signin.js.

import { ApiError, token } from './api.js';
import { renderAudit } from './audit.js';
import { renderEditor } from './editor.js';
import { renderHistory } from './history.js';
import { renderKeys } from './keys.js';
import { renderList } from './list.js';
import { renderRun, renderRuns } from './runs.js';
import { forgetIdentity, loadIdentity, readOnlyEditor, signInForm, whoami } from './signin.js';

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
  forgetIdentity();
  signInForm(main, message, () => route(true));
}

async function route(force = false) {
  if (!token.get()) {
    signIn();
    return;
  }
  if (!whoami()) {
    // A reload keeps the token (sessionStorage) but not who it is: ask again.
    try {
      await loadIdentity();
    } catch (err) {
      signIn(err instanceof ApiError && err.status === 401
        ? 'Your session ended or the token was refused; sign in again. Your drafts are kept.'
        : err.message);
      return;
    }
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
  if (editorRoute) view = readOnlyFor(renderEditor(main, editorRoute));
  else if (section === 'history' && id) view = renderHistory(main, id, query);
  else if (section === 'keys') view = renderKeys(main);
  else if (section === 'audit') view = renderAudit(main, query);
  else if (section === 'runs' && id) view = renderRun(main, id);
  else if (section === 'runs') view = renderRuns(main, query);
  else view = renderList(main, query);
  window.scrollTo(0, 0);
}

/** A viewer's editor is read only (signin.js); stop watching when it goes. */
function readOnlyFor(editor) {
  const release = readOnlyEditor(main);
  return {
    update: (next) => editor.update(next),
    dispose() {
      release();
      editor.dispose();
    },
  };
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
