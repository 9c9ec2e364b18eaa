// The integration editor: four steps over one draft (draft.js).
//   configure -> map -> test -> save
// The steps read the draft and ask it for named changes; the editor is the draft's one
// subscriber. After every change it redraws what that change needs, stores the draft
// (stored-drafts.js), refreshes the live preview and makes the last validation stale; Save is
// offered only once Validate passes for the document exactly as it is.

import { api } from './api.js';
import { blankDocument } from './document.js';
import { el, notify, replace, timeAgo } from './dom.js';
import { healthLine, signatureWarning } from './health.js';
import { createDraft } from './draft.js';
import { createPreviewer } from './preview.js';
import { clearProblems, showProblems, stepOf } from './problems.js';
import { configureStep } from './step-configure.js';
import { mapStep } from './step-map.js';
import { saveStep } from './step-save.js';
import { testStep } from './step-test.js';
import { discardDraft, loadDraft, saveDraft } from './stored-drafts.js';

const STEPS = [
  ['configure', '1', 'Configure'],
  ['map', '2', 'Map'],
  ['test', '3', 'Test'],
  ['save', '4', 'Save'],
];
const DRAFT_DELAY_MS = 200;
// The draft's changes after which a step's controls are drawn again (the others come from
// the control being typed in, which must keep its focus and caret).
const REDRAWS = {
  configure: new Set(['setSourceType', 'setTargetType', 'setPubsubMode', 'setSignatureScheme',
    'setAuthType', 'setApiKeyPlace', 'replaceSecret', 'keepStoredSecret']),
  map: new Set(['addMapping', 'removeMapping', 'useSourcePath', 'addTransform', 'setTransformType',
    'moveTransform', 'removeTransform']),
};

let justSaved = null; // the id just created by the editor that navigated here, to greet it
// A signing key the platform made on save ({id, secret}): shown once in step 4, never stored.
let revealed = null;

/** The editor at `#/integrations/{id}/{step}` or `#/new/{key}/{step}`. */
export function renderEditor(main, route) {
  // The editor's own state; the document being edited lives in `draft`.
  const state = {
    key: route.id || route.key,
    id: route.id || null,
    validation: null, // {fingerprint, valid, problems} of the last Validate
    problems: { preview: [], validate: [] },
    step: route.step || 'configure',
    justSaved: false,
  };
  let draft = null;
  let unsubscribe = () => {};
  let disposed = false;
  let draftTimer = null;
  let shown = null;
  let previewer = null;
  let tester = null;
  let mapper = null;
  const panels = {};
  const tabs = {};
  const dirtyBadge = el('span', { class: 'badge changed', hidden: true }, 'Unsaved changes');
  const title = el('h1', {});
  const banners = el('div', { class: 'banners' });
  // A saved integration's last 24 hours and its refused signatures, above the steps.
  const health = el('div', { class: 'health-box', 'aria-live': 'polite' });
  let signatureFailures = null;

  const applyProblems = () => {
    clearProblems(main);
    // The preview and Validate often find the same problem: show it once.
    const known = new Set(state.problems.validate.map((p) => `${p.path}\n${p.message}`));
    const fromPreview = state.problems.preview.filter((p) => !known.has(`${p.path}\n${p.message}`));
    showProblems(main, state.problems.validate, 'validate');
    showProblems(main, fromPreview, 'preview');
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
      if (draft.base && !draft.isDirty()) {
        discardDraft(state.key);
        return;
      }
      saveDraft(state.key, {
        doc: draft.doc,
        sampleText: draft.sampleText,
        baseVersion: draft.base ? draft.base.version : null,
      }, draft.base);
    }, DRAFT_DELAY_MS);
  };

  const DAY_MS = 24 * 3600 * 1000;
  const refreshHealth = async () => {
    if (!state.id) {
      health.replaceChildren();
      return;
    }
    let stats = null;
    try {
      stats = await api.stats(state.id, new Date(Date.now() - DAY_MS).toISOString());
    } catch {
      // no stats: the line is left out, the warning still shown
    }
    if (disposed) return;
    replace(health, signatureWarning(signatureFailures), stats ? healthLine(stats) : null);
  };

  const refreshHead = () => {
    title.textContent = draft.doc.name || (draft.base ? draft.base.name : 'New integration');
    dirtyBadge.hidden = !draft.isDirty();
    dirtyBadge.textContent = draft.base ? 'Unsaved changes' : 'Not saved yet';
  };

  let saver = null;
  /** The draft's one subscriber: after each named change, redraw what it needs. */
  const onChange = ({ name, path }) => {
    const before = state.problems.validate.length;
    state.problems.validate = state.problems.validate.filter((p) => p.path !== path);
    if (before !== state.problems.validate.length) applyProblems();
    if (REDRAWS.configure.has(name)) drawConfigure();
    if (REDRAWS.map.has(name)) mapper.redraw();
    state.justSaved = false;
    refreshHead();
    storeDraft();
    previewer.schedule();
    saver.draw();
  };

  // --- steps ---------------------------------------------------------------------------

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
    if (state.step === 'test') tester.history.start();
    else tester.history.stop();
    document.title = `${draft.doc.name || 'New integration'} · ${state.step} · JSON mapper`;
  };

  const goTo = (step, focusPath) => {
    location.hash = state.id
      ? `#/integrations/${encodeURIComponent(state.id)}/${step}` : `#/new/${state.key}/${step}`;
    show(step);
    const found = focusPath && panels[step].querySelector(`[data-path="${CSS.escape(focusPath)}"]`);
    if (found) {
      const focusable = found.matches('input, select, textarea, button') ? found
        : found.querySelector('input, select, textarea, button');
      if (focusable) focusable.focus();
    }
  };

  const nextButton = (step, label) => el('div', { class: 'buttons end step-foot' },
    el('button', { type: 'button', class: 'primary', onclick: () => goTo(step) }, label));

  /** Focus the control named `focusKey` (data-focus, else data-path) in step 1. */
  const focusConfigure = (focusKey) => {
    const target = panels.configure.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`)
      || panels.configure.querySelector(`[data-path="${CSS.escape(focusKey)}"]`);
    if (target) target.focus();
  };

  const drawConfigure = () => {
    replace(panels.configure, configureStep({ draft, focus: focusConfigure }),
      nextButton('map', 'Next: map fields'));
    applyProblems();
  };

  const tabList = () => {
    const list = el('div', { role: 'tablist', 'aria-label': 'Steps', class: 'steps' },
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
    list.addEventListener('keydown', (event) => {
      const order = STEPS.map(([name]) => name);
      const at = order.indexOf(state.step);
      const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: order.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      const step = order[(next + order.length) % order.length];
      goTo(step);
      tabs[step].focus();
    });
    return list;
  };

  // --- the whole editor ---------------------------------------------------------------------

  const build = () => {
    if (previewer) previewer.dispose();
    if (tester) tester.history.stop();
    unsubscribe();
    unsubscribe = draft.subscribe(onChange);
    previewer = createPreviewer(draft, (problems) => {
      state.problems.preview = problems;
      applyProblems();
    });
    const tablist = tabList();
    tester = testStep(state.id, previewer, draft);
    saver = saveStep({
      draft,
      key: state.key,
      id: state.id,
      validation: () => state.validation,
      validated: (validation, problems) => {
        state.validation = validation;
        if (!problems) return;
        state.problems.validate = problems;
        applyProblems();
      },
      justSaved: () => state.justSaved,
      newSigningSecret: () => (revealed && revealed.id === state.id ? revealed.secret : null),
      goTo,
      onSaved,
      onDiscarded,
      reload: load,
      afterTestEvent: () => {
        tester.history.refresh();
        refreshHealth();
      },
      disposed: () => disposed,
    });
    drawConfigure();
    mapper = mapStep({ draft, id: state.id, applyProblems }, previewer.panel());
    panels.map.append(mapper.root, nextButton('test', 'Next: test'));
    panels.test.append(tester.root, nextButton('save', 'Next: validate and save'));
    panels.save.append(saver.root);
    saver.draw();
    replace(main,
      el('p', { class: 'crumbs' }, el('a', { href: '#/integrations' }, '← Integrations')),
      el('div', { class: 'page-head editor-head' }, title, dirtyBadge), health, banners,
      tablist, STEPS.map(([name]) => panels[name]));
    refreshHead();
    shown = null;
    show(state.step);
    applyProblems();
    previewer.schedule(0);
  };

  function onSaved(answer, wasNew) {
    // The new key is in this answer only; the draft (and so localStorage) never holds it.
    const { newSigningSecret, ...saved } = answer;
    revealed = newSigningSecret ? { id: saved.id, secret: newSigningSecret } : null;
    clearTimeout(draftTimer);
    discardDraft(state.key);
    if (wasNew) {
      justSaved = saved.id;
      location.hash = `#/integrations/${encodeURIComponent(saved.id)}/save`;
      return;
    }
    draft = createDraft({ base: saved, doc: saved, sampleText: draft.sampleText });
    state.validation = null;
    state.problems.validate = [];
    state.justSaved = true;
    banners.replaceChildren();
    build();
    notify(`Saved ${saved.name}.`);
  }

  function onDiscarded() {
    if (!draft.base) {
      location.hash = '#/integrations';
      return;
    }
    draft = createDraft({ base: draft.base, doc: draft.base });
    state.validation = null;
    state.problems = { preview: [], validate: [] };
    banners.replaceChildren();
    build();
    notify('Changes discarded.');
  }

  async function load() {
    replace(main, el('p', { class: 'muted' }, 'Loading…'));
    banners.replaceChildren();
    let base;
    try {
      base = state.id ? await api.getIntegration(state.id) : null;
    } catch (err) {
      replace(main, el('p', {}, el('a', { href: '#/integrations' }, '← Integrations')),
        el('p', { class: 'problem-text', role: 'alert' }, err.message));
      return;
    }
    if (disposed) return;
    signatureFailures = base ? base.signatureFailures || null : null;
    refreshHealth();
    const stored = loadDraft(state.key);
    draft = createDraft({
      base,
      doc: stored ? stored.doc : base || blankDocument(),
      sampleText: stored && typeof stored.sampleText === 'string' ? stored.sampleText : '',
    });
    state.validation = null;
    state.problems = { preview: [], validate: [] };
    state.justSaved = justSaved !== null && justSaved === state.id;
    build();
    if (stored && base) {
      banners.append(el('div', { class: 'banner', role: 'status' },
        'Restored your unsaved changes from ', timeAgo(stored.savedAt), '. ',
        stored.baseVersion !== null && stored.baseVersion !== base.version
          ? `The saved integration has changed since (version ${stored.baseVersion} → ${base.version}). `
          : '',
        el('button', { type: 'button', class: 'link', onclick: () => saver.discard() }, 'Discard them')));
    }
    if (stored && stored.droppedSecrets && stored.droppedSecrets.length) {
      banners.append(el('div', { class: 'banner', role: 'status' },
        `Secrets are never kept in drafts: enter ${stored.droppedSecrets.join(', ')} again.`));
    }
    if (state.justSaved) notify(`Saved ${draft.doc.name}.`);
  }

  load();

  return {
    /** Same integration, another step: switch in place. */
    update(next) {
      if ((next.id || next.key) !== state.key || !draft || !tabs.configure) return false;
      show(next.step || 'configure');
      return true;
    },
    dispose() {
      disposed = true;
      unsubscribe();
      clearTimeout(draftTimer);
      if (tester) tester.history.stop();
      if (previewer) previewer.dispose();
      if (justSaved === state.id) justSaved = null;
      if (revealed && revealed.id === state.id) revealed = null;
    },
  };
}
