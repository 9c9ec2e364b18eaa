// Step 2: the sample as a tree, the condition, and the output fields with their transforms.
// A field gets its source by drag and drop, by typing its path, or from the keyboard:
// Enter on a tree field picks it, then a button of the placement bar puts it somewhere.

import { api } from './api.js';
import { codeEditor } from './code.js';
import { el, field, notify, replace } from './dom.js';
import { suggestedTarget } from './paths.js';
import { TRANSFORMS, transformCard } from './transforms.js';
import { PATH_TYPE, allPaths, jsonTree } from './tree.js';

const DATALIST_ID = 'sample-paths';

function carriesPath(event) {
  return event.dataTransfer && [...event.dataTransfer.types].includes(PATH_TYPE);
}

/** A target not used yet: `email`, else `email2`, `email3`... */
function freeTarget(mappings, wanted) {
  const used = new Set(mappings.map((m) => m.target));
  if (!used.has(wanted)) return wanted;
  for (let n = 2; ; n += 1) if (!used.has(`${wanted}${n}`)) return `${wanted}${n}`;
}

function ownerName(mapping, i) {
  return mapping.target ? `output field ${mapping.target}` : `output field ${i + 1}`;
}

/**
 * After a rename, the labels in `row` that name the field (every one ends with its name:
 * "Transform to add to output field email", "JavaScript for output field email") follow
 * it, without redrawing the row under the caret.
 */
function relabel(row, before, after) {
  if (before === after) return;
  const renamed = (text) => (text.endsWith(before) ? text.slice(0, -before.length) + after : text);
  for (const node of [row, ...row.querySelectorAll('[aria-label]')]) {
    node.setAttribute('aria-label', renamed(node.getAttribute('aria-label')));
  }
  for (const label of row.querySelectorAll('label')) {
    if (label.childNodes.length === 1 && label.firstChild.nodeType === Node.TEXT_NODE) {
      label.textContent = renamed(label.textContent);
    }
  }
}

/**
 * The map step over `ctx.draft`; `ctx.id` is the saved integration's id (or null) and
 * `ctx.applyProblems()` puts problems back after a redraw. Returns `{root, redraw}`: the
 * editor calls `redraw()` when a change altered the output fields' structure.
 */
export function mapStep(ctx, previewPanel) {
  const { draft } = ctx;
  const list = el('ol', { class: 'mappings', 'aria-label': 'Output fields' });
  const placement = el('div', { class: 'placement', role: 'group', hidden: true,
    'aria-label': 'Place the picked field' });
  const treeBox = el('div', { class: 'tree-box' });
  const datalist = el('datalist', { id: DATALIST_ID });
  const sampleStatus = el('p', { class: 'hint', role: 'status' });
  let picked = null; // the tree path picked from the keyboard, while the placement bar is open

  // --- the output fields ------------------------------------------------------------------

  let drawMode = () => {};
  const redraw = () => {
    replace(list, draft.doc.mappings.map((mapping, i) => mappingRow(mapping, i)));
    drawMode();
    ctx.applyProblems();
  };
  /** Focus the control named `focusKey` (data-focus, else data-path) in this step. */
  const focus = (focusKey) => {
    const scope = list.closest('.map-step') || list;
    const target = scope.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`)
      || scope.querySelector(`[data-path="${CSS.escape(focusKey)}"]`);
    if (target) target.focus();
  };

  const setSource = (i, path) => {
    draft.useSourcePath(i, path, freeTarget(draft.doc.mappings, suggestedTarget(path)));
    notify(`${path} → ${draft.doc.mappings[i].target}`);
  };
  const addMapping = (path) => {
    const target = path ? freeTarget(draft.doc.mappings, suggestedTarget(path)) : '';
    const i = draft.addMapping({ source: path || undefined, target });
    if (path) notify(`${path} → ${target}`);
    else focus(`mappings[${i}].target`);
  };

  const mappingRow = (mapping, i) => {
    const transforms = mapping.transforms || [];
    const owner = ownerName(mapping, i);
    const target = el('input', { type: 'text', value: mapping.target || '', spellcheck: 'false',
      autocomplete: 'off', placeholder: 'e.g. customer.email' });
    target.addEventListener('input', () => {
      const before = ownerName(draft.doc.mappings[i], i);
      draft.setMappingTarget(i, target.value);
      relabel(row, before, ownerName(draft.doc.mappings[i], i));
    });
    const source = el('input', { type: 'text', value: mapping.source || '', spellcheck: 'false',
      autocomplete: 'off', list: DATALIST_ID, placeholder: 'drop a field here or type a path' });
    source.addEventListener('input', () => draft.setMappingSource(i, source.value));
    const adding = el('select', { 'aria-label': `Transform to add to ${owner}`,
      'data-focus': `mappings[${i}].add-type` },
    Object.entries(TRANSFORMS).map(([name, { label }]) => el('option', { value: name }, label)));
    const chain = el('ol', { class: 'chain', 'aria-label': `Transforms of ${owner}` },
      transforms.map((_, k) => transformCard(draft, i, k, owner, focus)));
    const row = el('li', { class: 'mapping', 'data-path': `mappings[${i}]`, 'aria-label': owner },
      el('div', { class: 'mapping-head' },
        field('Output field', target, { path: `mappings[${i}].target` }),
        el('span', { class: 'arrow', 'aria-hidden': 'true' }, '←'),
        field('From', source, { path: `mappings[${i}].source` }),
        el('button', { type: 'button', class: 'quiet danger-text',
          'aria-label': `Remove ${owner}`,
          onclick: () => {
            const removed = ownerName(draft.doc.mappings[i], i);
            draft.removeMapping(i);
            focus('mappings.add');
            notify(`Removed ${removed}.`);
          } }, 'Remove')),
      transforms.length ? chain : null,
      el('div', { class: 'add-transform' },
        el('span', { class: 'muted', 'aria-hidden': 'true' }, 'New transform:'), adding,
        el('button', { type: 'button', class: 'quiet', 'data-focus': `mappings[${i}].add`,
          'aria-label': `Add transform to ${owner}`,
          onclick: () => {
            draft.addTransform(i, adding.value);
            focus(`mappings[${i}].transforms[${draft.doc.mappings[i].transforms.length - 1}].type`);
          } }, 'Add')),
      el('div', { class: 'problem-slot' }));
    row.addEventListener('dragover', (event) => {
      if (!carriesPath(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      row.classList.add('drop-over');
    });
    row.addEventListener('dragleave', (event) => {
      if (!row.contains(event.relatedTarget)) row.classList.remove('drop-over');
    });
    row.addEventListener('drop', (event) => {
      row.classList.remove('drop-over');
      if (!carriesPath(event)) return;
      event.preventDefault();
      setSource(i, event.dataTransfer.getData(PATH_TYPE));
    });
    return row;
  };

  // --- picking from the keyboard ------------------------------------------------------------

  const closePlacement = (refocus = true) => {
    const was = picked;
    picked = null;
    placement.hidden = true;
    placement.replaceChildren();
    if (refocus && was !== null) {
      const item = treeBox.querySelector(`[role=treeitem][data-path="${CSS.escape(was)}"]`);
      if (item) item.focus();
    }
  };
  const pick = (path) => {
    picked = path;
    const choices = [
      ...draft.doc.mappings.map((mapping, i) => el('button', { type: 'button', class: 'choice-button',
        onclick: () => { closePlacement(); setSource(i, path); } },
      mapping.target || `Output field ${i + 1}`)),
      el('button', { type: 'button', class: 'choice-button primary',
        onclick: () => { closePlacement(); addMapping(path); } }, 'A new output field'),
      el('button', { type: 'button', class: 'quiet', onclick: () => closePlacement() }, 'Cancel'),
    ];
    replace(placement,
      el('p', { class: 'placement-title' }, 'Use ', el('code', {}, path || '(whole payload)'),
        ' as the source of:'),
      el('div', { class: 'placement-choices' }, choices));
    placement.hidden = false;
    choices[0].focus();
  };
  placement.addEventListener('keydown', (event) => {
    const buttons = [...placement.querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    if (event.key === 'Escape') {
      event.preventDefault();
      closePlacement();
    } else if (event.key === 'ArrowRight' || event.key === 'ArrowDown') {
      event.preventDefault();
      buttons[(at + 1) % buttons.length].focus();
    } else if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') {
      event.preventDefault();
      buttons[(at - 1 + buttons.length) % buttons.length].focus();
    }
  });

  // --- the sample -----------------------------------------------------------------------------

  const drawTree = () => {
    const text = draft.sampleText.trim();
    if (!text) {
      replace(treeBox, el('p', { class: 'empty' }, 'Paste a sample payload above to see its fields.'));
      replace(sampleStatus);
      datalist.replaceChildren();
      return;
    }
    if (draft.sampleError) {
      replace(sampleStatus, el('span', { class: 'problem-text' }, `Not JSON: ${draft.sampleError}`));
      return;
    }
    replace(sampleStatus, 'Drag a field onto an output field, or focus it and press Enter.');
    replace(treeBox, jsonTree(draft.doc.samplePayload, { onPick: pick }));
    replace(datalist, allPaths(draft.doc.samplePayload).slice(0, 500)
      .map((path) => el('option', { value: path })));
  };
  let treeTimer = null;
  const sample = el('textarea', { id: 'sample', class: 'mono sample', rows: 8, spellcheck: 'false',
    autocomplete: 'off', 'data-path': 'samplePayload', placeholder: '{"id": 1, "customer": {…}}' });
  sample.value = draft.sampleText;
  const setSample = (text) => {
    draft.setSample(text);
    clearTimeout(treeTimer);
    treeTimer = setTimeout(drawTree, 250);
  };
  sample.addEventListener('input', () => setSample(sample.value));
  const fileInput = el('input', { type: 'file', accept: '.json,application/json', class: 'visually-hidden',
    id: 'sample-file', tabindex: -1, 'aria-hidden': 'true' });
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files && fileInput.files[0];
    if (!file) return;
    sample.value = await file.text();
    setSample(sample.value);
    fileInput.value = '';
  });
  const format = () => {
    if (draft.sampleError || !draft.sampleText.trim()) return;
    sample.value = JSON.stringify(draft.doc.samplePayload, null, 2);
    setSample(sample.value);
  };
  const fromLastRun = async () => {
    try {
      const { runs } = await api.listRuns({ integration_id: ctx.id, limit: 1 });
      if (!runs.length || runs[0].incomingPayload === undefined) {
        notify('This integration has no run with a payload yet.');
        return;
      }
      sample.value = JSON.stringify(runs[0].incomingPayload, null, 2);
      setSample(sample.value);
      notify('Loaded the payload of the last run.');
    } catch (err) {
      notify(err.message, 'error');
    }
  };

  const sampleColumn = el('section', { class: 'col col-sample', 'aria-labelledby': 'sample-title' },
    el('h2', { id: 'sample-title' }, 'Sample payload'),
    el('div', { class: 'field' }, el('label', { for: 'sample' }, 'Paste a JSON payload'), sample),
    el('div', { class: 'buttons' },
      el('button', { type: 'button', class: 'quiet', onclick: () => fileInput.click() }, 'Load file…'),
      fileInput,
      el('button', { type: 'button', class: 'quiet', onclick: format }, 'Format'),
      ctx.id ? el('button', { type: 'button', class: 'quiet', onclick: fromLastRun },
        'From the last run') : null),
    sampleStatus,
    el('h3', {}, 'Fields'),
    treeBox,
    datalist);

  const condition = codeEditor({
    label: 'Condition (optional)',
    value: draft.doc.condition || '',
    path: 'condition',
    minRows: 2,
    placeholder: "data.type === 'payment_intent.succeeded'",
    hint: 'A JavaScript expression of data, attributes and headers; when falsy the message is skipped.',
    onInput: (text) => draft.setCondition(text),
  });
  // The output from output fields, or from one JSONata expression of the payload.
  const jsonata = codeEditor({
    label: 'JSONata expression',
    value: draft.doc.jsonata || '',
    path: 'jsonata',
    minRows: 4,
    placeholder: '{"id": data.object.id, "total": $sum(items.amount) / 100}',
    hint: 'A JSONata 2.x expression of the payload; its result is the output. $data is the payload too.',
    onInput: (text) => draft.setJsonata(text),
  });
  const modeName = 'output-mode';
  const modeChoice = (value, text) => {
    const input = el('input', { type: 'radio', name: modeName, value, 'data-focus': `mode.${value}` });
    input.addEventListener('change', () => {
      if (input.checked) draft.useJsonata(value === 'jsonata');
    });
    return el('label', { class: 'choice' }, input, ` ${text}`);
  };
  const mode = el('fieldset', { class: 'output-mode' },
    el('legend', {}, 'Build the output with'),
    modeChoice('fields', 'Output fields'),
    modeChoice('jsonata', 'JSONata'));
  const jsonataBox = el('div', { class: 'card-flat', 'data-path': 'jsonata-box' }, jsonata.root);
  const newZone = el('div', { class: 'drop-new', 'aria-hidden': 'true' },
    'Drop a field here to add an output field');
  newZone.addEventListener('dragover', (event) => {
    if (!carriesPath(event)) return;
    event.preventDefault();
    newZone.classList.add('drop-over');
  });
  newZone.addEventListener('dragleave', () => newZone.classList.remove('drop-over'));
  newZone.addEventListener('drop', (event) => {
    newZone.classList.remove('drop-over');
    if (!carriesPath(event)) return;
    event.preventDefault();
    addMapping(event.dataTransfer.getData(PATH_TYPE));
  });

  const fieldsBox = el('div', { class: 'output-fields' },
    el('h2', { id: 'mappings-title' }, 'Output fields'),
    el('p', { class: 'hint' }, 'Each output field takes a value from the sample and passes it ',
      'through its transforms, left to right. With no output fields the payload is sent unchanged.'),
    placement,
    list,
    newZone,
    el('button', { type: 'button', class: 'quiet', 'data-focus': 'mappings.add',
      onclick: () => addMapping(null) }, 'Add output field'));
  const mappingColumn = el('section', { class: 'col col-mappings', 'aria-labelledby': 'mappings-title' },
    el('div', { class: 'card-flat', 'data-path': 'condition-box' }, condition.root),
    mode,
    jsonataBox,
    fieldsBox);
  // Which of the two builds the output: drawn again when the choice changes.
  drawMode = () => {
    const on = typeof draft.doc.jsonata === 'string';
    for (const input of mode.querySelectorAll('input')) input.checked = (input.value === 'jsonata') === on;
    jsonataBox.hidden = !on;
    fieldsBox.hidden = on;
  };

  redraw();
  drawTree();
  const root = el('div', { class: 'map-step' }, sampleColumn, mappingColumn,
    el('section', { class: 'col col-preview', 'aria-label': 'Live preview' }, previewPanel));
  return { root, redraw };
}
