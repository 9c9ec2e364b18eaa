// Building the page safely: every string becomes a text node (textContent), never HTML.
// Values from payloads, runs and errors come from strangers; nothing here can run them.

const PROPERTIES = new Set(['value', 'checked', 'selected', 'disabled', 'hidden', 'readOnly',
  'multiple', 'required', 'indeterminate']);

/** An element with attributes, `on<event>` listeners and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') {
      node.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    } else if (name === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name.startsWith('on') || name === 'style' || name === 'srcdoc') {
      throw new Error(`el(): refusing attribute ${name}`);
    } else if (name === 'href' && !/^(#|\/|https?:)/.test(String(value))) {
      throw new Error('el(): refusing a link that is not http(s) or local');
    } else if (PROPERTIES.has(name)) {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

/** Append children: nodes as they are, strings and numbers as text, arrays flattened. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace all children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** JSON as indented text, for a <pre>; undefined shows as nothing. */
export function jsonText(value) {
  if (value === undefined) return '';
  return JSON.stringify(value, null, 2);
}

/** A <pre> holding a JSON value as text. */
export function jsonBlock(value, attrs = {}) {
  return el('pre', { class: 'json', tabindex: 0, ...attrs }, jsonText(value));
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

const UNITS = [['year', 31536000], ['month', 2592000], ['day', 86400], ['hour', 3600],
  ['minute', 60], ['second', 1]];

/** "3 minutes ago" for an ISO time, with the full time in the title. */
export function timeAgo(iso) {
  if (!iso) return el('span', { class: 'muted' }, 'never');
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return el('span', {}, String(iso));
  const seconds = Math.round((when.getTime() - Date.now()) / 1000);
  const [unit, size] = UNITS.find(([, length]) => Math.abs(seconds) >= length) || ['second', 1];
  return el('time', { datetime: when.toISOString(), title: absolute.format(when) },
    relative.format(Math.round(seconds / size), unit));
}

/** The full local time of an ISO string. */
export function fullTime(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? String(iso ?? '') : absolute.format(when);
}

/** A status badge (success, error, skipped, ...). */
export function statusBadge(status) {
  return el('span', { class: ['badge', `status-${String(status).replace(/[^a-z_]/g, '')}`] },
    String(status ?? 'unknown').replace('_', ' '));
}

/** Say something in the page's polite live region (and show it briefly). */
export function notify(message, kind = 'info') {
  const box = document.getElementById('notice');
  replace(box, el('span', { class: ['notice-text', kind] }, message));
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => box.replaceChildren(), 6000);
}

let counter = 0;
/** A fresh id for label/aria wiring. */
export function uid(prefix = 'f') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled form field: label above, control, hint and a problem slot for `path`. */
export function field(label, control, { hint, path, wide } = {}) {
  if (!control.id) control.id = uid('field');
  const parts = [el('label', { for: control.id }, label), control];
  if (hint) {
    const hintId = uid('hint');
    control.setAttribute('aria-describedby', hintId);
    parts.push(el('p', { class: 'hint', id: hintId }, hint));
  }
  if (path) control.dataset.path = path;
  return el('div', { class: ['field', wide && 'wide'] }, parts);
}

/** Put `text` on the clipboard (selecting `input` as a fallback) and say so. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    input.select();
    document.execCommand('copy');
  }
  notify('Copied to the clipboard.');
}

/**
 * A read-only value with a Copy button: one line in an input, or several (`multiline`) in a
 * text area, so that the user can also select it by hand.
 */
export function copyable(label, value, { hint, multiline = false, name } = {}) {
  const input = multiline
    ? el('textarea', { readOnly: true, class: 'mono', rows: Math.min(8, value.split('\n').length),
      spellcheck: 'false', wrap: 'soft', 'data-copy': name || '' })
    : el('input', { type: 'text', value, readOnly: true, class: 'mono', 'data-copy': name || '' });
  if (multiline) input.value = value;
  const box = field(label, input, { hint });
  box.append(el('button', {
    type: 'button', class: 'quiet', 'aria-label': `Copy ${label}`,
    onclick: () => copyText(value, input),
  }, 'Copy'));
  box.classList.add('copyable');
  return box;
}

/**
 * "Load more" paging over a list route. `fetchPage(cursor)` answers `{..., nextCursor}`;
 * `show(page, append)` draws it. A failed page is shown in `results` as an alert. Gives the
 * button to place under the results, `load(append)`, and `stop()` for when the view goes.
 */
export function pager(results, fetchPage, show) {
  const more = el('button', { type: 'button', class: 'quiet', hidden: true }, 'Load more');
  let cursor = null;
  let stopped = false;
  const load = async (append = false) => {
    results.setAttribute('aria-busy', 'true');
    try {
      const page = await fetchPage(append ? cursor : '');
      if (stopped) return;
      cursor = page.nextCursor;
      more.hidden = !cursor;
      show(page, append);
    } catch (err) {
      replace(results, el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
    results.setAttribute('aria-busy', 'false');
  };
  more.addEventListener('click', () => load(true));
  return { more, load, stop: () => { stopped = true; } };
}
