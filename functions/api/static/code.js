// A plain <textarea> with line numbers beside it, for conditions and custom JavaScript.
// Tab moves focus as everywhere else (no keyboard trap); indent with spaces.

import { el, uid } from './dom.js';

const MAX_ROWS = 18;

/** `{root, textarea}`: a labelled code box calling `onInput(text)` on every edit. */
export function codeEditor({ label, value = '', onInput, path, hint, minRows = 3, placeholder }) {
  const textarea = el('textarea', {
    id: uid('code'),
    class: 'code-input',
    spellcheck: 'false',
    autocapitalize: 'off',
    autocomplete: 'off',
    wrap: 'off',
    placeholder,
    value,
  });
  if (path) textarea.dataset.path = path;
  const gutter = el('div', { class: 'code-gutter', 'aria-hidden': 'true' });

  const refresh = () => {
    const lines = textarea.value.split('\n').length;
    if (gutter.childElementCount !== lines) {
      gutter.replaceChildren(...Array.from({ length: lines }, (_, i) => el('span', {}, i + 1)));
    }
    textarea.rows = Math.max(minRows, Math.min(lines, MAX_ROWS));
    gutter.scrollTop = textarea.scrollTop;
  };
  textarea.addEventListener('input', () => {
    refresh();
    if (onInput) onInput(textarea.value);
  });
  textarea.addEventListener('scroll', () => {
    gutter.scrollTop = textarea.scrollTop;
  });
  refresh();

  const parts = [el('label', { for: textarea.id }, label),
    el('div', { class: 'code' }, gutter, textarea)];
  if (hint) {
    const hintId = uid('hint');
    textarea.setAttribute('aria-describedby', hintId);
    parts.push(el('p', { class: 'hint', id: hintId }, hint));
  }
  return { root: el('div', { class: 'field code-field' }, parts), textarea };
}
