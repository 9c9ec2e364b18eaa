// One transform of a mapping as a small card: its type, its arguments (drawn from the
// transform's JSON Schema, see schema.js), move and remove.

import { codeEditor } from './code.js';
import { el, field } from './dom.js';
import { TRANSFORMS } from './schema.js';
import { PATH_TYPE } from './tree.js';

/** The transforms (docs/mapping.md) by type: `{label, fresh, parameters}`, from the schema. */
export { TRANSFORMS };

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

function decimal(text) {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  return /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/** JSON when it parses; otherwise the text, which validation then names. */
function json(text) {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// How each kind of parameter (schema.js) reads and shows its text. An optional one left
// empty is left out of the document (`undefined`), so that its default applies.
const KINDS = {
  integer: { convert: integer, show: (v) => v ?? '', attrs: { inputmode: 'numeric' } },
  number: { convert: decimal, show: (v) => v ?? '', attrs: { inputmode: 'decimal' } },
  text: { convert: (v) => v, show: (v) => v ?? '' },
  loose: { convert: (v) => (v === '' ? undefined : parseLoose(v)),
    show: (v) => (v === undefined ? '' : showLoose(v)) },
};

/** The control for `transform[key]`; `edit(key, value)` requests the change. */
function parameterField(transform, key, spec, path, edit, owner) {
  const at = `${path}.${key}`;
  if (spec.kind === 'select') {
    const current = transform[key] ?? spec.default ?? '';
    const options = (spec.default === undefined || spec.default === null) && !spec.required
      ? [['', '(none)'], ...spec.choices.map((c) => [c, c])] : spec.choices.map((c) => [c, c]);
    const control = el('select', {}, options.map(([value, text]) =>
      el('option', { value, selected: value === current }, text)));
    control.addEventListener('change', () => edit(key, control.value === '' ? undefined : control.value));
    return field(spec.label, control, { path: at, hint: spec.hint });
  }
  if (spec.kind === 'checkbox') {
    const control = el('input', { type: 'checkbox', checked: Boolean(transform[key] ?? spec.default) });
    control.addEventListener('change', () => edit(key, control.checked));
    return field(spec.label, control, { path: at, hint: spec.hint });
  }
  if (spec.kind === 'json') {
    const control = el('textarea', { rows: 3, spellcheck: 'false', class: 'mono',
      placeholder: spec.placeholder });
    control.value = transform[key] === undefined ? '' : JSON.stringify(transform[key], null, 1);
    control.addEventListener('input', () => {
      const value = json(control.value);
      edit(key, value === undefined && spec.required ? {} : value);
    });
    return field(spec.label, control, { path: at, hint: spec.hint });
  }
  if (spec.kind === 'code') {
    return codeEditor({
      label: `${spec.label} for ${owner}`,
      value: transform[key] || '',
      path: at,
      hint: spec.hint,
      onInput: (text) => edit(key, text),
    }).root;
  }
  if (spec.kind === 'paths') {
    const paths = el('textarea', { rows: 2, spellcheck: 'false', class: 'mono',
      placeholder: spec.placeholder });
    paths.value = (transform[key] || []).join('\n');
    const write = () => edit(key, paths.value.split('\n').map((s) => s.trim()).filter(Boolean));
    paths.addEventListener('input', write);
    paths.addEventListener('dragover', (event) => {
      if (event.dataTransfer.types.includes(PATH_TYPE)) event.preventDefault();
    });
    paths.addEventListener('drop', (event) => {
      const dropped = event.dataTransfer.getData(PATH_TYPE);
      if (!dropped) return;
      event.preventDefault();
      event.stopPropagation();
      paths.value = [paths.value.trim(), dropped].filter(Boolean).join('\n');
      write();
    });
    return field(spec.label, paths, { path: at });
  }
  const kind = KINDS[spec.kind] || KINDS.loose;
  const control = el('input', { type: 'text', spellcheck: 'false', autocomplete: 'off',
    placeholder: spec.placeholder, ...kind.attrs, value: kind.show(transform[key]) });
  control.addEventListener('input', () => {
    const value = kind.convert(control.value);
    edit(key, value === '' && !spec.required ? undefined : value);
  });
  return field(spec.label, control, { path: at });
}

/** The transform's arguments: one field, or several side by side. */
function argumentFields(transform, path, edit, owner) {
  const known = TRANSFORMS[transform.type];
  const specs = Object.entries(known ? known.parameters : {});
  const parts = specs.map(([key, spec]) => parameterField(transform, key, spec, path, edit, owner));
  if (parts.length <= 1) return parts[0] || null;
  return el('div', { class: specs.some(([, spec]) => spec.kind === 'paths') ? 'concat' : 'grid-2' },
    parts);
}

/**
 * The card for transform `k` of output field `i`, drawn from the draft. Every edit is a
 * named change of `draft`; after a change of type, order or removal the editor redraws
 * the output fields and `focus(key)` puts the focus back.
 */
export function transformCard(draft, i, k, owner, focus) {
  const transforms = draft.doc.mappings[i].transforms;
  const transform = transforms[k];
  const path = `mappings[${i}].transforms[${k}]`;
  const count = transforms.length;
  const choices = Object.entries(TRANSFORMS).map(([name, { label }]) => [name, label]);
  if (!TRANSFORMS[transform.type]) choices.push([transform.type, transform.type]);
  const type = el('select', { 'aria-label': `Transform ${k + 1} of ${owner}`, 'data-focus': `${path}.type` },
    choices.map(([name, label]) =>
      el('option', { value: name, selected: name === transform.type }, label)));
  type.addEventListener('change', () => {
    draft.setTransformType(i, k, type.value);
    focus(`${path}.type`);
  });
  const move = (delta, label, text) => el('button', {
    type: 'button', class: 'icon', 'aria-label': `${label}: transform ${k + 1} of ${owner}`,
    title: label, disabled: k + delta < 0 || k + delta >= count, 'data-focus': `${path}.${text}`,
    onclick: () => {
      draft.moveTransform(i, k, delta);
      focus(`mappings[${i}].transforms[${k + delta}].${text}`);
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
          draft.removeTransform(i, k);
          focus(`mappings[${i}].add`);
        },
      }, '✕')),
    argumentFields(transform, path, (key, value) => draft.setTransformArgument(i, k, key, value),
      owner),
    el('div', { class: 'problem-slot' }));
}
