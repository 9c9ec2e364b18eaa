// Who is signed in: the sign-in form (an API key mk_... or the bootstrap admin token), the
// name and role GET /api/whoami/ answers for it, and what the views show for that role.
// Hiding is for the user's sake only: the API refuses what the role may not do (403) anyway.

import { api, ApiError, token } from './api.js';
import { el, replace } from './dom.js';

const ORDER = ['viewer', 'editor', 'admin'];
// What each role may not do, said where a control is left out or disabled.
export const REASON = {
  editor: 'Your role may only read: changing, testing, replaying and redriving need role editor.',
  admin: 'Keys and the audit log need role admin.',
};

let current = null; // {keyId, name, role, expiresAt} of the credential in use

/** The signed-in credential as GET /api/whoami/ described it, or null. */
export function whoami() {
  return current;
}

/** True when the signed-in role includes `role` (viewer < editor < admin). */
export function can(role) {
  return current !== null && ORDER.indexOf(current.role) >= ORDER.indexOf(role);
}

/** Ask the API who the stored credential is; shows it in the header. Throws ApiError. */
export async function loadIdentity() {
  current = await api.whoami();
  document.body.dataset.role = current.role;
  const who = document.getElementById('who');
  if (who) {
    replace(who, el('span', { class: 'visually-hidden' }, 'Signed in as '),
      el('span', { class: 'who-name' }, current.name), ' ',
      el('span', { class: ['badge', 'role', `role-${current.role}`], 'data-role': current.role },
        current.role));
    who.hidden = false;
  }
  for (const link of document.querySelectorAll('[data-needs]')) {
    link.hidden = !can(link.dataset.needs);
  }
  return current;
}

/** Forget who was signed in (the token is cleared by the caller). */
export function forgetIdentity() {
  current = null;
  delete document.body.dataset.role;
  const who = document.getElementById('who');
  if (who) {
    who.hidden = true;
    who.replaceChildren();
  }
}

/** `node` when the role may use it, else nothing (for controls a role may not use). */
export function ifCan(role, node) {
  return can(role) ? node : null;
}

/** The page a role may not see: says so instead of failing on a 403. */
export function notAllowed(main, what) {
  replace(main, el('div', { class: 'card empty', 'data-denied': what },
    el('p', {}, `Your role (${current ? current.role : 'none'}) may not see ${what}.`),
    el('p', {}, REASON.admin)));
}

/** The sign-in form; `done()` runs once the credential is accepted. */
export function signInForm(main, message, done) {
  const input = el('input', { type: 'password', id: 'token', autocomplete: 'off', spellcheck: 'false',
    required: true, 'aria-describedby': 'token-hint' });
  const problem = el('p', { class: 'problem-text', id: 'sign-in-problem', role: 'alert' }, message || '');
  const form = el('form', { class: 'card sign-in', 'aria-labelledby': 'sign-in-title' },
    el('h1', { id: 'sign-in-title' }, 'Sign in'),
    el('div', { class: 'field' }, el('label', { for: 'token' }, 'API key or admin token'), input,
      el('p', { class: 'hint', id: 'token-hint' },
        'Your API key (mk_…), or the ADMIN_TOKEN of this deployment. It is kept in this tab '
        + 'only, until you close it.')),
    problem,
    el('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.textContent = '';
    token.set(input.value.trim());
    try {
      await loadIdentity();
      done();
    } catch (err) {
      token.clear();
      forgetIdentity();
      problem.textContent = err instanceof ApiError && err.status === 401
        ? 'That token was refused.' : err.message;
      input.focus();
    }
  });
  replace(main, form);
  document.title = 'Sign in · JSON mapper';
  input.focus();
}

// --- read only -------------------------------------------------------------------------------

// Buttons a viewer keeps in the editor: they read or copy, they change nothing.
const KEEP = /^(Copy|Refresh|Next|All runs|History|Show|Headers)/;

function lock(root) {
  for (const node of root.querySelectorAll('[role=tabpanel] input, [role=tabpanel] textarea')) {
    if (node.type === 'checkbox' || node.type === 'radio' || node.type === 'file') node.disabled = true;
    else node.readOnly = true;
  }
  for (const node of root.querySelectorAll('[role=tabpanel] select')) node.disabled = true;
  for (const node of root.querySelectorAll('[role=tabpanel] [draggable=true]')) {
    node.draggable = false;
  }
  for (const button of root.querySelectorAll('[role=tabpanel] button')) {
    const name = button.getAttribute('aria-label') || button.textContent.trim();
    if (KEEP.test(name) || button.disabled) continue;
    button.disabled = true;
    button.title = REASON.editor;
  }
}

/**
 * For a viewer, the editor in `main` becomes read only: fields can be read, selected and
 * copied but not changed, and its action buttons are disabled with the reason as tooltip.
 * Returns a function that stops watching.
 */
export function readOnlyEditor(main) {
  if (can('editor')) return () => {};
  main.classList.add('read-only');
  lock(main);
  const watcher = new MutationObserver(() => lock(main));
  watcher.observe(main, { childList: true, subtree: true });
  return () => {
    watcher.disconnect();
    main.classList.remove('read-only');
  };
}
