// A JSON sample as an ARIA tree. Every node can be dragged (its path travels as
// `application/x-mapper-path`) or picked from the keyboard with Enter or Space.

import { el } from './dom.js';
import { childIndex, childKey } from './paths.js';

export const PATH_TYPE = 'application/x-mapper-path';
const SHOWN_ELEMENTS = 20;
const OPEN_LEVELS = 3;

function kind(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function summary(value) {
  switch (kind(value)) {
    case 'array': return `[ ${value.length} ]`;
    case 'object': return `{ ${Object.keys(value).length} }`;
    case 'string': return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
    default: return String(value);
  }
}

/** One value standing for all elements of an array (objects merged key by key). */
function merged(values) {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length && present.every((v) => kind(v) === 'object')) {
    const out = {};
    for (const value of present) {
      for (const key of Object.keys(value)) {
        out[key] = key in out ? merged([out[key], value[key]]) : value[key];
      }
    }
    return out;
  }
  if (present.length && present.every((v) => kind(v) === 'array')) {
    return [merged(present.flat())];
  }
  return present.length ? present[0] : null;
}

/** Every path in `value` (for suggestions), with `[*]` forms for arrays. */
export function allPaths(value, prefix = '', out = []) {
  if (kind(value) === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const path = childKey(prefix, key);
      out.push(path);
      allPaths(child, path, out);
    }
  } else if (kind(value) === 'array' && value.length) {
    const every = childIndex(prefix, '*');
    out.push(every);
    allPaths(merged(value.slice(0, 50)), every, out);
  }
  return out;
}

/**
 * The tree element for `value`. `onPick(path)` is called on Enter/Space; dragging needs
 * nothing more from the caller than a drop target that reads PATH_TYPE.
 */
export function jsonTree(value, { onPick, label = 'Sample fields' } = {}) {
  const tree = el('ul', { class: 'tree', role: 'tree', 'aria-label': label });
  let first = true;

  const node = (name, path, item, level, note) => {
    const container = kind(item) === 'object' || kind(item) === 'array';
    const li = el('li', {
      role: 'treeitem',
      tabindex: first ? 0 : -1,
      'aria-level': level,
      'aria-expanded': container ? String(level < OPEN_LEVELS) : null,
      'aria-label': `${path || 'whole payload'}: ${container ? kind(item) : summary(item)}`,
      dataset: { path },
    });
    first = false;
    const row = el('div', { class: 'tree-row', draggable: 'true' },
      el('span', { class: 'twisty', 'aria-hidden': 'true' }),
      el('span', { class: 'tree-key' }, name),
      el('span', { class: ['tree-value', `t-${kind(item)}`] }, summary(item)),
      note ? el('span', { class: 'tree-note' }, note) : null);
    li.append(row);
    if (container) li.append(el('ul', { role: 'group' }, children(item, path, level + 1)));
    return li;
  };

  const children = (item, path, level) => {
    if (kind(item) === 'object') {
      return Object.entries(item).map(([key, child]) => node(key, childKey(path, key), child, level));
    }
    if (!item.length) return [];
    const out = [node('[*]', childIndex(path, '*'), merged(item.slice(0, 50)), level, 'every element')];
    item.slice(0, SHOWN_ELEMENTS).forEach((child, index) => {
      out.push(node(`[${index}]`, childIndex(path, index), child, level));
    });
    if (item.length > SHOWN_ELEMENTS) {
      out.push(el('li', { role: 'none', class: 'tree-more' },
        `… ${item.length - SHOWN_ELEMENTS} more elements`));
    }
    return out;
  };

  if (kind(value) === 'object' || kind(value) === 'array') {
    tree.append(...children(value, '', 1));
  } else {
    tree.append(node('payload', '', value, 1));
  }

  const visible = () => [...tree.querySelectorAll('[role=treeitem]')]
    .filter((item) => !item.parentElement.closest('[aria-expanded=false]'));
  const focus = (item) => {
    if (!item) return;
    for (const other of tree.querySelectorAll('[role=treeitem][tabindex="0"]')) other.tabIndex = -1;
    item.tabIndex = 0;
    item.focus();
  };

  tree.addEventListener('keydown', (event) => {
    const item = event.target.closest('[role=treeitem]');
    if (!item) return;
    const items = visible();
    const at = items.indexOf(item);
    const expanded = item.getAttribute('aria-expanded');
    const handled = {
      ArrowDown: () => focus(items[at + 1]),
      ArrowUp: () => focus(items[at - 1]),
      Home: () => focus(items[0]),
      End: () => focus(items.at(-1)),
      ArrowRight: () => {
        if (expanded === 'false') item.setAttribute('aria-expanded', 'true');
        else if (expanded === 'true') focus(items[at + 1]);
      },
      ArrowLeft: () => {
        if (expanded === 'true') item.setAttribute('aria-expanded', 'false');
        else focus(item.parentElement.closest('[role=treeitem]'));
      },
      Enter: () => onPick && onPick(item.dataset.path, item),
      ' ': () => onPick && onPick(item.dataset.path, item),
    }[event.key];
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
      handled();
    }
  });
  tree.addEventListener('click', (event) => {
    const item = event.target.closest('[role=treeitem]');
    if (!item) return;
    if (event.target.closest('.twisty') && item.hasAttribute('aria-expanded')) {
      const open = item.getAttribute('aria-expanded') === 'true';
      item.setAttribute('aria-expanded', String(!open));
    }
    focus(item);
    event.stopPropagation();
  });
  tree.addEventListener('dragstart', (event) => {
    const item = event.target.closest('[role=treeitem]');
    if (!item) return;
    event.dataTransfer.setData(PATH_TYPE, item.dataset.path);
    event.dataTransfer.setData('text/plain', item.dataset.path);
    event.dataTransfer.effectAllowed = 'copy';
    item.classList.add('dragging');
  });
  tree.addEventListener('dragend', (event) => {
    const item = event.target.closest('[role=treeitem]');
    if (item) item.classList.remove('dragging');
  });
  return tree;
}
