// The integration editor: four steps over one draft document.
//   configure -> map -> test -> save
// Every edit marks the draft changed, stores it (drafts.js), refreshes the live preview and
// makes the last validation stale; Save is offered only once Validate passes for the
// document exactly as it is.

import { api, ApiError, waitForRun } from './api.js';
import { configureStep } from './configure.js';
import { confirmDialog } from './dialog.js';
import { discardDraft, loadDraft, saveDraft } from './drafts.js';
import { el, jsonBlock, notify, replace, statusBadge, timeAgo } from './dom.js';
import { mapStep } from './mapping.js';
import { createPreviewer } from './preview.js';
import { clearProblems, showProblems, stepOf } from './problems.js';
import { bodyBlock, runTable } from './runs.js';

export const STEPS = [
  ['configure', '1', 'Configure'],
  ['map', '2', 'Map'],
  ['test', '3', 'Test'],
  ['save', '4', 'Save'],
];
const SERVER_FIELDS = ['id', 'version', 'webhookPath', 'webhookUrl', 'pushPath', 'pushEndpoint',
  'listenerActive', 'createdAt', 'updatedAt'];

const HISTORY_REFRESH_MS = 3000;
let justSaved = null; // the id saved by the editor that navigated here, to greet it

function blankDocument() {
  return {
    name: '',
    active: true,
    source: { type: 'webhook' },
    condition: '',
    mappings: [],
    target: { type: 'http', method: 'POST', url: '', headers: {} },
  };
}

function normalised(doc) {
  const out = structuredClone(doc);
  out.mappings ||= [];
  for (const mapping of out.mappings) mapping.transforms ||= [];
  out.source ||= { type: 'webhook' };
  out.target ||= { type: 'http', method: 'POST', url: '' };
  if (out.target.type === 'http') out.target.headers ||= {};
  if (out.condition === null || out.condition === undefined) out.condition = '';
  return out;
}

/** A canonical text of what would be saved: key order, blanks and server fields ignored. */
function fingerprint(doc) {
  const clean = (value) => {
    if (Array.isArray(value)) return value.map(clean);
    if (value && typeof value === 'object') {
      const out = {};
      for (const key of Object.keys(value).sort()) {
        const item = value[key];
        if (item === undefined) continue;
        // An empty object or list means the same as none here (headers, transforms).
        if (item && typeof item === 'object' && !Object.keys(item).length) continue;
        out[key] = clean(item);
      }
      return out;
    }
    return value;
  };
  const copy = structuredClone(doc || {});
  for (const name of SERVER_FIELDS) delete copy[name];
  if (!copy.condition || !String(copy.condition).trim()) delete copy.condition;
  if (copy.samplePayload === null) delete copy.samplePayload;
  return JSON.stringify(clean(copy));
}

/** What the API receives on save. */
function documentToSave(state) {
  const doc = structuredClone(state.doc);
  for (const name of SERVER_FIELDS) delete doc[name];
  if (!doc.condition || !doc.condition.trim()) delete doc.condition;
  if (doc.target && doc.target.headers && !Object.keys(doc.target.headers).length) {
    delete doc.target.headers;
  }
  if (state.base) doc.version = state.base.version;
  return doc;
}

function parseObject(text, what) {
  if (!text.trim()) return { value: null };
  try {
    const value = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      return { error: `${what} must be a JSON object` };
    }
    return { value: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)])) };
  } catch (err) {
    return { error: `${what}: ${err.message}` };
  }
}

/** The editor at `#/integrations/{id}/{step}` or `#/new/{key}/{step}`. */
export function renderEditor(main, route) {
  const state = {
    key: route.id || route.key,
    id: route.id || null,
    base: null,
    doc: null,
    sampleText: '',
    sampleError: null,
    previewHeaders: null,
    previewAttributes: null,
    validation: null, // {fingerprint, valid, problems}
    problems: { preview: [], validate: [] },
    picked: null,
    step: route.step || 'configure',
  };
  let disposed = false;
  let draftTimer = null;
  let historyTimer = null;
  const panels = {};
  const tabs = {};
  const dirtyBadge = el('span', { class: 'badge changed', hidden: true }, 'Unsaved changes');
  const title = el('h1', {});
  const banners = el('div', { class: 'banners' });
  const saveArea = el('div');
  const historyArea = el('div', { 'aria-live': 'polite' });
  let previewer = null;

  const isDirty = () => !state.base || fingerprint(state.doc) !== fingerprint(state.base);
  const validFresh = () => state.validation && state.validation.valid
    && state.validation.fingerprint === fingerprint(state.doc);

  const applyProblems = () => {
    const root = main;
    clearProblems(root);
    // The preview and Validate often find the same problem: show it once.
    const known = new Set(state.problems.validate.map((p) => `${p.path}\n${p.message}`));
    const fromPreview = state.problems.preview.filter((p) => !known.has(`${p.path}\n${p.message}`));
    showProblems(root, state.problems.validate, 'validate');
    showProblems(root, fromPreview, 'preview');
    for (const [step] of STEPS) {
      const count = [...state.problems.validate, ...fromPreview]
        .filter((p) => stepOf(p.path) === step).length;
      const badge = tabs[step] && tabs[step].querySelector('.count');
      if (!badge) continue;
      badge.textContent = count ? String(count) : '';
      badge.hidden = !count;
      if (count) badge.setAttribute('aria-label', `${count} problem${count > 1 ? 's' : ''}`);
    }
  };

  const storeDraft = () => {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(() => {
      if (disposed) return;
      if (state.base && !isDirty()) discardDraft(state.key);
      else {
        saveDraft(state.key, {
          doc: state.doc,
          sampleText: state.sampleText,
          baseVersion: state.base ? state.base.version : null,
        }, state.base);
      }
    }, 200);
  };

  const refreshHead = () => {
    title.textContent = state.doc.name || (state.base ? state.base.name : 'New integration');
    dirtyBadge.hidden = !isDirty();
    dirtyBadge.textContent = state.base ? 'Unsaved changes' : 'Not saved yet';
  };

  const changed = ({ path, structural, focus } = {}) => {
    if (path) {
      const before = state.problems.validate.length;
      state.problems.validate = state.problems.validate.filter((p) => p.path !== path);
      if (before !== state.problems.validate.length) applyProblems();
    }
    if (structural && /^(name|source|target)/.test(path || '')) drawConfigure(focus || path);
    refreshHead();
    storeDraft();
    previewer.schedule();
    drawSave();
  };

  const setSample = (text) => {
    state.sampleText = text;
    if (!text.trim()) {
      state.sampleError = null;
      delete state.doc.samplePayload;
    } else {
      try {
        state.doc.samplePayload = JSON.parse(text);
        state.sampleError = null;
      } catch (err) {
        state.sampleError = err.message;
      }
    }
    changed({ path: 'samplePayload' });
  };

  const ctx = { state, changed, applyProblems, setSample };

  // --- steps ---------------------------------------------------------------------------

  const goTo = (step, focusPath) => {
    location.hash = state.id
      ? `#/integrations/${encodeURIComponent(state.id)}/${step}` : `#/new/${state.key}/${step}`;
    show(step);
    if (focusPath) {
      const found = panels[step].querySelector(`[data-path="${CSS.escape(focusPath)}"]`);
      if (found) {
        const focusable = found.matches('input, select, textarea, button') ? found
          : found.querySelector('input, select, textarea, button');
        if (focusable) focusable.focus();
      }
    }
  };

  let shown = null;
  const show = (step) => {
    state.step = STEPS.some(([name]) => name === step) ? step : 'configure';
    if (shown === state.step) return;
    shown = state.step;
    for (const [name] of STEPS) {
      const selected = name === state.step;
      tabs[name].setAttribute('aria-selected', String(selected));
      tabs[name].tabIndex = selected ? 0 : -1;
      panels[name].hidden = !selected;
    }
    clearInterval(historyTimer);
    if (state.step === 'test') {
      loadHistory();
      historyTimer = setInterval(() => {
        if (!document.hidden) loadHistory();
      }, HISTORY_REFRESH_MS);
    }
    document.title = `${state.doc.name || 'New integration'} · ${state.step} · JSON mapper`;
  };

  const nextButton = (step, label) => el('div', { class: 'buttons end step-foot' },
    el('button', { type: 'button', class: 'primary', onclick: () => goTo(step) }, label));

  const drawConfigure = (focusKey) => {
    replace(panels.configure, configureStep(ctx), nextButton('map', 'Next: map fields'));
    applyProblems();
    if (focusKey) {
      const target = panels.configure.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`)
        || panels.configure.querySelector(`[data-path="${CSS.escape(focusKey)}"]`);
      if (target) target.focus();
    }
  };

  const loadHistory = async () => {
    if (!state.id) {
      replace(historyArea, el('p', { class: 'empty' }, 'Runs appear here once the integration is saved.'));
      return;
    }
    try {
      const { runs } = await api.listRuns({ integration_id: state.id, limit: 10 });
      // Redraw only when something changed, so that focus inside the table survives.
      const seen = JSON.stringify(runs.map((run) => [run.id, run.status, run.attempts]));
      if (disposed || seen === historyArea.dataset.seen) return;
      historyArea.dataset.seen = seen;
      replace(historyArea, runTable(runs, { caption: 'Recent runs of this integration' }));
    } catch (err) {
      replace(historyArea, el('p', { class: 'problem-text' }, err.message));
    }
  };

  const drawTest = () => {
    const headers = el('textarea', { id: 'preview-headers', class: 'mono', rows: 3, spellcheck: 'false',
      placeholder: '{"X-Github-Event": "push"}' });
    const attributes = el('textarea', { id: 'preview-attributes', class: 'mono', rows: 3,
      spellcheck: 'false', placeholder: '{"severity": "critical"}' });
    const extraStatus = el('p', { class: 'hint', role: 'status' });
    const readExtras = () => {
      const h = parseObject(headers.value, 'Headers');
      const a = parseObject(attributes.value, 'Attributes');
      extraStatus.textContent = h.error || a.error || '';
      state.previewHeaders = h.value || null;
      state.previewAttributes = a.value || null;
      previewer.schedule();
    };
    headers.addEventListener('input', readExtras);
    attributes.addEventListener('input', readExtras);
    replace(panels.test,
      el('section', { class: 'card' }, previewer.panel({ withInput: true, title: 'Preview on the sample' }),
        el('details', { class: 'extras' },
          el('summary', {}, 'Headers and attributes for the condition'),
          el('div', { class: 'grid-2' },
            el('div', { class: 'field' }, el('label', { for: 'preview-headers' }, 'Webhook headers (JSON)'), headers),
            el('div', { class: 'field' }, el('label', { for: 'preview-attributes' }, 'Pub/Sub attributes (JSON)'),
              attributes)),
          extraStatus)),
      el('section', { class: 'card', 'aria-labelledby': 'history-title' },
        el('div', { class: 'page-head' }, el('h2', { id: 'history-title' }, 'Run history'),
          el('span', { class: 'spacer' }),
          el('button', { type: 'button', class: 'quiet', onclick: loadHistory }, 'Refresh'),
          state.id ? el('a', { class: 'button quiet',
            href: `#/runs?integration=${encodeURIComponent(state.id)}` }, 'All runs') : null),
        historyArea),
      nextButton('save', 'Next: validate and save'));
  };

  // --- validate, save, send a test event ------------------------------------------------------

  const validationBox = el('div', { class: 'validation', role: 'status', 'aria-live': 'polite' });
  const checkTarget = el('input', { type: 'checkbox', id: 'check-target' });
  const testArea = el('div', { class: 'test-result', 'aria-live': 'polite' });

  const validate = async () => {
    const print = fingerprint(state.doc);
    replace(validationBox, 'Validating…');
    try {
      const result = await api.validate(documentToSave(state), checkTarget.checked);
      const problems = result.problems.map((p) => ({ ...p, path: p.path.replace(/^integration\.?/, '') }));
      state.validation = { fingerprint: print, valid: result.valid, problems };
      state.problems.validate = problems;
      applyProblems();
    } catch (err) {
      state.validation = { fingerprint: print, valid: false, problems: err.problems || [],
        error: err.message };
    }
    drawSave();
    const focusTarget = validFresh() ? saveArea.querySelector('#save') : null;
    if (focusTarget) focusTarget.focus();
  };

  const save = async () => {
    const button = saveArea.querySelector('#save');
    if (button) button.disabled = true;
    try {
      const body = documentToSave(state);
      const saved = state.id
        ? await api.replaceIntegration(state.id, body)
        : await api.createIntegration(body);
      clearTimeout(draftTimer);
      discardDraft(state.key);
      state.problems.validate = [];
      justSaved = saved.id;
      if (!state.id) {
        location.hash = `#/integrations/${encodeURIComponent(saved.id)}/save`;
        return;
      }
      state.base = saved;
      state.doc = normalised(saved);
      state.validation = null;
      build();
      notify(`Saved ${saved.name}.`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        drawConflict(err.message);
      } else if (err instanceof ApiError && err.problems.length) {
        state.problems.validate = err.problems;
        state.validation = { fingerprint: fingerprint(state.doc), valid: false, problems: err.problems };
        applyProblems();
        drawSave();
      } else {
        notify(err.message, 'error');
      }
      if (button) button.disabled = false;
    }
  };

  const drawConflict = (message) => {
    replace(validationBox, el('div', { class: 'error-box', role: 'alert' },
      el('p', {}, `Not saved: ${message}. Someone changed this integration after you opened it.`),
      el('div', { class: 'buttons' },
        el('button', { type: 'button', class: 'quiet', onclick: async () => {
          discardDraft(state.key);
          await load();
        } }, 'Load their version (discard mine)'),
        el('button', { type: 'button', class: 'danger', onclick: async () => {
          const latest = await api.getIntegration(state.id);
          state.base = { ...state.base, version: latest.version };
          await save();
        } }, 'Overwrite with mine'))));
  };

  const sendTest = async () => {
    const payload = state.doc.samplePayload ?? (state.base && state.base.samplePayload);
    if (payload === undefined || payload === null) {
      replace(testArea, el('p', { class: 'problem-text' }, 'Add a sample payload in step 2 first.'));
      return;
    }
    replace(testArea, el('p', {}, 'Sending the sample as a real event…'));
    try {
      const queued = await api.sendTest(state.id, payload);
      const link = el('a', { href: `#/runs/${encodeURIComponent(queued.runId)}` }, 'Open the run');
      const line = el('p', { class: 'test-line' }, statusBadge(queued.status), ' ', link);
      const details = el('div');
      replace(testArea, line, details);
      const run = await waitForRun(queued.runId, {
        onUpdate: (current) => {
          if (disposed) return;
          replace(line, statusBadge(current.status), ' ', link,
            current.attempts ? ` · ${current.attempts} attempt(s)` : '');
        },
      });
      if (disposed || !run) return;
      replace(details,
        run.errorMessage ? el('pre', { class: 'error-text' }, run.errorMessage) : null,
        el('div', { class: 'grid-2' },
          el('div', {}, el('h3', {}, 'Sent'), jsonBlock(run.transformedPayload, { 'data-test': 'sent' })),
          el('div', {}, el('h3', {}, 'Response'),
            run.outgoingResponse
              ? [el('p', { class: 'mono' }, `Status ${run.outgoingResponse.status}`),
                bodyBlock(run.outgoingResponse.body, 'Response body')]
              : el('p', { class: 'empty' }, 'No response.'))));
      loadHistory();
    } catch (err) {
      replace(testArea, el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
  };

  const drawSave = () => {
    if (!state.doc) return;
    const dirty = isDirty();
    const fresh = validFresh();
    const validation = state.validation;
    const stale = validation && validation.fingerprint !== fingerprint(state.doc);
    if (validation && !stale && !validation.valid) {
      replace(validationBox,
        el('p', { class: 'problem-text' }, validation.error
          || `${validation.problems.length} problem(s) to fix before saving:`),
        el('ul', { class: 'problem-list' }, validation.problems.map((p) => el('li', {},
          el('code', {}, p.path || 'document'), ` ${p.message} `,
          stepOf(p.path) !== 'save'
            ? el('button', { type: 'button', class: 'link', onclick: () => goTo(stepOf(p.path), p.path) },
              'Show')
            : null))));
    } else if (fresh) {
      replace(validationBox, el('p', { class: 'ok-text' }, '✓ Valid. ',
        dirty ? 'Ready to save.' : 'Nothing changed since the last save.'));
    } else if (stale) {
      replace(validationBox, el('p', { class: 'muted' }, 'Changed since the last validation: validate again.'));
    } else {
      replace(validationBox, el('p', { class: 'muted' }, dirty
        ? 'Validate to check the whole integration; Save appears once it passes.'
        : 'No changes.'));
    }
    const greeting = justSaved && justSaved === state.id && !dirty;
    replace(saveArea,
      el('section', { class: 'card', 'aria-labelledby': 'save-title' },
        el('h2', { id: 'save-title' }, 'Validate and save'),
        el('p', {}, state.base
          ? [dirty ? 'Unsaved changes to version ' : 'Saved as version ', String(state.base.version),
            ' · last saved ', timeAgo(state.base.updatedAt)]
          : 'This integration has not been saved yet.'),
        el('label', { class: 'check' }, checkTarget, 'Also check that the target can be reached'),
        el('div', { class: 'buttons' },
          el('button', { type: 'button', id: 'validate', class: fresh ? 'quiet' : 'primary', onclick: validate },
            'Validate'),
          el('button', { type: 'button', id: 'save', class: 'primary', hidden: !(fresh && dirty), onclick: save },
            'Save'),
          dirty && (state.base || loadDraft(state.key))
            ? el('button', { type: 'button', class: 'quiet danger-text', onclick: discard }, 'Discard changes')
            : null),
        validationBox),
      state.id ? el('section', { class: 'card', 'aria-labelledby': 'try-title' },
        el('h2', { id: 'try-title' }, 'Try it for real'),
        greeting ? el('p', { class: 'ok-text' }, '✓ Saved.') : null,
        dirty
          ? el('p', { class: 'muted' }, 'Save first: a test event runs the saved integration.')
          : [el('p', {}, 'Send the sample payload through the saved integration: it is delivered to the target and recorded as a run.'),
            el('button', { type: 'button', id: 'send-test', class: 'primary', onclick: sendTest },
              'Send test event')],
        testArea) : null);
  };

  const discard = async () => {
    const sure = await confirmDialog({
      title: 'Discard your changes?',
      message: state.base ? 'The integration goes back to its saved version.' : 'This new integration will be gone.',
      confirm: 'Discard',
      danger: true,
    });
    if (!sure) return;
    discardDraft(state.key);
    if (!state.base) {
      location.hash = '#/integrations';
      return;
    }
    state.doc = normalised(state.base);
    state.validation = null;
    state.problems = { preview: [], validate: [] };
    build();
    notify('Changes discarded.');
  };

  // --- the whole editor ---------------------------------------------------------------------

  const build = () => {
    if (previewer) previewer.dispose();
    previewer = createPreviewer(state, (problems) => {
      state.problems.preview = problems;
      applyProblems();
    });
    const text = state.doc.samplePayload !== undefined && state.doc.samplePayload !== null
      ? JSON.stringify(state.doc.samplePayload, null, 2) : '';
    if (!state.sampleText.trim() && !state.sampleError) state.sampleText = text;
    const tablist = el('div', { role: 'tablist', 'aria-label': 'Steps', class: 'steps' },
      STEPS.map(([name, number, label]) => {
        tabs[name] = el('button', {
          type: 'button', role: 'tab', id: `tab-${name}`, 'aria-controls': `panel-${name}`,
          onclick: () => goTo(name),
        }, el('span', { class: 'step-number', 'aria-hidden': 'true' }, number), label,
        el('span', { class: 'count', hidden: true }));
        panels[name] = el('section', { role: 'tabpanel', id: `panel-${name}`,
          'aria-labelledby': `tab-${name}`, class: `panel panel-${name}` });
        return tabs[name];
      }));
    tablist.addEventListener('keydown', (event) => {
      const order = STEPS.map(([name]) => name);
      const at = order.indexOf(state.step);
      const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: order.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      const step = order[(next + order.length) % order.length];
      goTo(step);
      tabs[step].focus();
    });
    drawConfigure();
    panels.map.append(mapStep(ctx, previewer.panel()).root, nextButton('test', 'Next: test'));
    drawTest();
    panels.save.append(saveArea);
    drawSave();
    replace(main,
      el('p', { class: 'crumbs' }, el('a', { href: '#/integrations' }, '← Integrations')),
      el('div', { class: 'page-head editor-head' }, title, dirtyBadge), banners,
      tablist, STEPS.map(([name]) => panels[name]));
    refreshHead();
    shown = null;
    show(state.step);
    applyProblems();
    previewer.schedule(0);
  };

  const load = async () => {
    replace(main, el('p', { class: 'muted' }, 'Loading…'));
    banners.replaceChildren();
    try {
      state.base = state.id ? await api.getIntegration(state.id) : null;
    } catch (err) {
      replace(main, el('p', {}, el('a', { href: '#/integrations' }, '← Integrations')),
        el('p', { class: 'problem-text', role: 'alert' }, err.message));
      return;
    }
    if (disposed) return;
    const draft = loadDraft(state.key);
    state.doc = normalised(draft ? draft.doc : state.base || blankDocument());
    state.sampleText = draft && typeof draft.sampleText === 'string' ? draft.sampleText : '';
    if (state.sampleText.trim()) {
      try {
        state.doc.samplePayload = JSON.parse(state.sampleText);
      } catch (err) {
        state.sampleError = err.message;
      }
    }
    state.validation = null;
    state.problems = { preview: [], validate: [] };
    if (draft && state.base) {
      banners.append(el('div', { class: 'banner', role: 'status' },
        'Restored your unsaved changes from ', timeAgo(draft.savedAt), '. ',
        draft.baseVersion !== null && draft.baseVersion !== state.base.version
          ? `The saved integration has changed since (version ${draft.baseVersion} → ${state.base.version}). `
          : '',
        el('button', { type: 'button', class: 'link', onclick: discard }, 'Discard them')));
    }
    if (draft && draft.droppedSecrets && draft.droppedSecrets.length) {
      banners.append(el('div', { class: 'banner', role: 'status' },
        `Secrets are never kept in drafts: enter ${draft.droppedSecrets.join(', ')} again.`));
    }
    build();
    if (justSaved && justSaved === state.id) {
      notify(`Saved ${state.doc.name}.`);
    }
  };

  load();

  return {
    /** Same integration, another step: switch in place. */
    update(next) {
      if ((next.id || next.key) !== state.key || !state.doc || !tabs.configure) return false;
      show(next.step || 'configure');
      return true;
    },
    dispose() {
      disposed = true;
      clearTimeout(draftTimer);
      clearInterval(historyTimer);
      if (previewer) previewer.dispose();
      if (justSaved === state.id) justSaved = null;
    },
  };
}
