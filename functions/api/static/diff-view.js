// Showing differences: a structural diff as a table (path, change, old -> new), as the audit
// log and the backtest send them, and two JSON documents side by side, line against line.

import { el } from './dom.js';

const MAX_VALUE_CHARS = 300;
// Past this many lines on either side the side-by-side view compares without aligning (the
// alignment costs lines x lines).
const MAX_ALIGNED_LINES = 3000;

/** A value as short JSON text; undefined as nothing. */
export function valueText(value) {
  if (value === undefined) return '';
  const text = JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text;
}

const OPS = { add: 'added', remove: 'removed', change: 'changed' };

/** `[{path, op, old, new}]` as a table; `''` as path is the whole value. */
export function diffTable(entries, caption = 'Changes') {
  return el('table', { class: 'table diff-table' },
    el('caption', { class: 'visually-hidden' }, caption),
    el('thead', {}, el('tr', {}, ['Path', 'Change', 'Before', 'After']
      .map((name) => el('th', { scope: 'col' }, name)))),
    el('tbody', {}, entries.map((entry) => el('tr', { class: `op-${entry.op}`, 'data-diff-path': entry.path },
      el('td', {}, el('code', {}, entry.path || '(all)')),
      el('td', {}, OPS[entry.op] || entry.op),
      el('td', { class: 'mono old' }, entry.op === 'add' ? '' : valueText(entry.old)),
      el('td', { class: 'mono new' }, entry.op === 'remove' ? '' : valueText(entry.new))))));
}

/** Pairs of line indexes [i, j] (either may be null) aligning `a` with `b` by their LCS. */
function align(a, b) {
  if (a.length > MAX_ALIGNED_LINES || b.length > MAX_ALIGNED_LINES) {
    const rows = [];
    for (let k = 0; k < Math.max(a.length, b.length); k += 1) {
      rows.push([k < a.length ? k : null, k < b.length ? k : null]);
    }
    return rows;
  }
  const n = a.length;
  const m = b.length;
  const width = m + 1;
  const table = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      table[i * width + j] = a[i] === b[j] ? table[(i + 1) * width + j + 1] + 1
        : Math.max(table[(i + 1) * width + j], table[i * width + j + 1]);
    }
  }
  const rows = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) rows.push([i++, j++]);
    else if (j < m && (i === n || table[i * width + j + 1] >= table[(i + 1) * width + j])) rows.push([null, j++]);
    else rows.push([i++, null]);
  }
  return rows;
}

/** A copy with object keys in order, so that two documents line up however they were saved. */
function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sorted(value[key])]));
  }
  return value;
}

/**
 * Two JSON values side by side, each as indented text with its keys sorted, lines aligned;
 * lines only on the left are marked removed, only on the right added. Returns
 * `{node, changed}` (changed: how many lines differ).
 */
export function sideBySide(left, right, { leftTitle, rightTitle }) {
  const a = JSON.stringify(sorted(left), null, 2).split('\n');
  const b = JSON.stringify(sorted(right), null, 2).split('\n');
  const rows = align(a, b);
  let changed = 0;
  const cell = (lines, index, kind) => (index === null
    ? el('td', { class: 'gap' })
    : el('td', { class: kind }, el('span', { class: 'line-no', 'aria-hidden': 'true' }, String(index + 1)),
      lines[index]));
  const body = rows.map(([i, j]) => {
    const same = i !== null && j !== null;
    if (!same) changed += 1;
    return el('tr', { class: same ? 'same' : 'differs' },
      cell(a, i, same ? 'same' : 'removed'), cell(b, j, same ? 'same' : 'added'));
  });
  const node = el('table', { class: 'side-by-side' },
    el('caption', { class: 'visually-hidden' }, `${leftTitle} and ${rightTitle} side by side`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, leftTitle), el('th', { scope: 'col' }, rightTitle))),
    el('tbody', {}, body));
  return { node, changed };
}
