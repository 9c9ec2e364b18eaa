// One transform of a mapping as a small card: its type, its arguments, move and remove.

import { codeEditor } from './code.js';
import { el, field } from './dom.js';
import { PATH_TYPE } from './tree.js';

/** The built-in transforms (docs/mapping.md), each with a fresh default. */
export const TRANSFORMS = {
  uppercase: { label: 'Uppercase', make: () => ({ type: 'uppercase' }) },
  lowercase: { label: 'Lowercase', make: () => ({ type: 'lowercase' }) },
  substring: { label: 'Substring', make: () => ({ type: 'substring', start: 0 }) },
  replace: { label: 'Replace text', make: () => ({ type: 'replace', find: '', replace: '' }) },
  default: { label: 'Default when null', make: () => ({ type: 'default', value: '' }) },
  concat: { label: 'Join fields (concat)', make: () => ({ type: 'concat', fields: [], separator: ' ' }) },
  custom: { label: 'Custom JavaScript', make: () => ({ type: 'custom', code: 'return value' }) },
};

/** A `default` value as typed: JSON when it parses, otherwise the text itself. */
export function parseLoose(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The text that `parseLoose` turns back into `value`. */
export function showLoose(value) {
  if (typeof value === 'string') {
    try {
      JSON.parse(value);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value);
}

function integer(text) {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

function input(transform, key, { path, label, convert = (v) => v, show = (v) => v ?? '', ...attrs },
  onEdit) {
  const control = el('input', { type: 'text', spellcheck: 'false', autocomplete: 'off', ...attrs,
    value: show(transform[key]) });
  control.addEventListener('input', () => {
    const value = convert(control.value);
    if (value === undefined) delete transform[key];
    else transform[key] = value;
    onEdit(`${path}.${key}`);
  });
  return field(label, control, { path: `${path}.${key}` });
}

function argumentFields(transform, path, onEdit, owner) {
  switch (transform.type) {
    case 'substring':
      return el('div', { class: 'grid-2' },
        input(transform, 'start', { path, label: 'Start', convert: integer, inputmode: 'numeric' }, onEdit),
        input(transform, 'length', { path, label: 'Length (optional)', convert: integer,
          inputmode: 'numeric' }, onEdit));
    case 'replace':
      return el('div', { class: 'grid-2' },
        input(transform, 'find', { path, label: 'Find' }, onEdit),
        input(transform, 'replace', { path, label: 'Replace with' }, onEdit));
    case 'default':
      return input(transform, 'value', { path, label: 'Value when null', convert: parseLoose,
        show: showLoose, placeholder: 'unknown, 0, true, {"a": 1}' }, onEdit);
    case 'concat': {
      const fields = el('textarea', { rows: 2, spellcheck: 'false', class: 'mono',
        placeholder: 'one path per line; drop fields here' });
      fields.value = (transform.fields || []).join('\n');
      const write = () => {
        transform.fields = fields.value.split('\n').map((s) => s.trim()).filter(Boolean);
        onEdit(`${path}.fields`);
      };
      fields.addEventListener('input', write);
      fields.addEventListener('dragover', (event) => {
        if (event.dataTransfer.types.includes(PATH_TYPE)) event.preventDefault();
      });
      fields.addEventListener('drop', (event) => {
        const dropped = event.dataTransfer.getData(PATH_TYPE);
        if (!dropped) return;
        event.preventDefault();
        event.stopPropagation();
        fields.value = [fields.value.trim(), dropped].filter(Boolean).join('\n');
        write();
      });
      return el('div', { class: 'concat' },
        field('Fields (one path per line)', fields, { path: `${path}.fields` }),
        input(transform, 'separator', { path, label: 'Separator' }, onEdit));
    }
    case 'custom': {
      const editor = codeEditor({
        label: `JavaScript for ${owner}`,
        value: transform.code || '',
        path: `${path}.code`,
        hint: 'The body of function (value, data, attributes, headers); return the new value.',
        onInput: (text) => {
          transform.code = text;
          onEdit(`${path}.code`);
        },
      });
      return editor.root;
    }
    default:
      return null;
  }
}

/**
 * The card for `mapping.transforms[k]`. `onEdit(path)` after an argument changes (the
 * card stays); `onStructure(focusKey)` after type, order or removal changed (redraw).
 */
export function transformCard(mapping, i, k, owner, { onEdit, onStructure }) {
  const transform = mapping.transforms[k];
  const path = `mappings[${i}].transforms[${k}]`;
  const count = mapping.transforms.length;
  const type = el('select', { 'aria-label': `Transform ${k + 1} of ${owner}`, 'data-focus': `${path}.type` },
    Object.entries(TRANSFORMS).map(([name, { label }]) =>
      el('option', { value: name, selected: name === transform.type }, label)));
  type.addEventListener('change', () => {
    mapping.transforms[k] = TRANSFORMS[type.value].make();
    onStructure(`${path}.type`);
  });
  const move = (delta, label, text) => el('button', {
    type: 'button', class: 'icon', 'aria-label': `${label}: transform ${k + 1} of ${owner}`,
    title: label, disabled: k + delta < 0 || k + delta >= count, 'data-focus': `${path}.${text}`,
    onclick: () => {
      const [moved] = mapping.transforms.splice(k, 1);
      mapping.transforms.splice(k + delta, 0, moved);
      onStructure(`mappings[${i}].transforms[${k + delta}].${text}`);
    },
  }, text === 'up' ? '↑' : '↓');
  return el('li', { class: 'transform', 'data-path': path },
    el('div', { class: 'transform-head' },
      el('span', { class: 'step-no', 'aria-hidden': 'true' }, k + 1),
      type,
      move(-1, 'Move earlier', 'up'),
      move(1, 'Move later', 'down'),
      el('button', {
        type: 'button', class: 'icon', title: 'Remove',
        'aria-label': `Remove transform ${k + 1} of ${owner}`,
        onclick: () => {
          mapping.transforms.splice(k, 1);
          onStructure(`mappings[${i}].add`);
        },
      }, '✕')),
    argumentFields(transform, path, onEdit, owner),
    el('div', { class: 'problem-slot' }));
}
