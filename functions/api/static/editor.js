// The integration editor: four steps over one draft (draft.js).
//   configure -> map -> test -> save
// As TodoMVC's controller: the draft is the model, EditorView (editor-view.js) and step 4's
// SaveView (step-save.js) draw what they are given and call back the handlers bound here.
// The steps read the draft and ask it for named changes; the editor is the draft's one
// subscriber. After every change it redraws what that change needs, stores the draft
// (stored-drafts.js), refreshes the live preview and makes the last validation stale; Save is
// offered only once Validate passes for the document exactly as it is.

import { api, ApiError, waitForRun } from './api.js';
import { deliveryControls } from './delivery.js';
import { confirmDialog } from './dialog.js';
import { blankDocument, documentToSave, fingerprint } from './document.js';
import { notify } from './dom.js';
import { createDraft } from './draft.js';
import { EditorView, STEPS } from './editor-view.js';
import { healthLine, signatureWarning } from './health.js';
import { driftBadge, shapePanel } from './source-shape.js';
import { createPreviewer } from './preview.js';
import { configureStep } from './step-configure.js';
import { mapStep } from './step-map.js';
import { SaveView } from './step-save.js';
import { testStep } from './step-test.js';
import { discardDraft, loadDraft, saveDraft } from './stored-drafts.js';

const DRAFT_DELAY_MS = 200;
const DAY_MS = 24 * 3600 * 1000;
// The draft's changes after which a step's controls are drawn again (the others come from
// the control being typed in, which must keep its focus and caret).
const REDRAWS = {
  configure: new Set(['setSourceType', 'setTargetType', 'setPubsubMode', 'setSignatureScheme',
    'setAuthType', 'setApiKeyPlace', 'replaceSecret', 'keepStoredSecret', 'useTargetSettings',
    'addTarget', 'removeTarget', 'setFanoutTargetType']),
  map: new Set(['addMapping', 'removeMapping', 'useSourcePath', 'addTransform', 'setTransformType',
    'moveTransform', 'removeTransform', 'useJsonata']),
};

let justSaved = null; // the id just created by the editor that navigated here, to greet it
// A signing key the platform made on save ({id, secret}): shown once in step 4, never stored.
let revealed = null;

/** The editor at `#/integrations/{id}/{step}` or `#/new/{key}/{step}`. */
export function renderEditor(main, route) {
  const editor = new Editor(main, route);
  editor.load();
  return {
    /** Same integration, another step: switch in place. */
    update: (next) => editor.update(next),
    dispose: () => editor.dispose(),
  };
}

class Editor {
  constructor(main, route) {
    // The editor's own state; the document being edited lives in `draft`.
    this.state = {
      key: route.id || route.key,
      id: route.id || null,
      validation: null, // {fingerprint, valid, problems, error} of the last Validate
      problems: { preview: [], validate: [] },
      step: route.step || 'configure',
      justSaved: false,
      signatureFailures: null,
    };
    this.draft = null;
    this.disposed = false;
    this.draftTimer = null;
    this.unsubscribe = () => {};
    // The parts of the steps the editor talks to, made again on every build.
    this.previewer = null;
    this.tester = null;
    this.mapper = null;
    this.saver = null;
    this.view = new EditorView(main);
    this.view.bindGoTo((step) => this.goTo(step));
    this.view.bindDiscardStored(() => this.discard());
  }

  // --- the draft's one subscriber ---------------------------------------------------------

  /** After each named change, redraw what it needs. */
  onChange({ name, path }) {
    const { problems } = this.state;
    const before = problems.validate.length;
    problems.validate = problems.validate.filter((p) => p.path !== path);
    if (before !== problems.validate.length) this.renderProblems();
    if (REDRAWS.configure.has(name)) this.drawConfigure();
    if (REDRAWS.map.has(name)) this.mapper.redraw();
    this.state.justSaved = false;
    this.renderHead();
    this.storeDraft();
    this.previewer.schedule();
    this.renderSave();
  }

  storeDraft() {
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => {
      if (this.disposed) return;
      const { draft } = this;
      if (draft.base && !draft.isDirty()) {
        discardDraft(this.state.key);
        return;
      }
      saveDraft(this.state.key, {
        doc: draft.doc,
        sampleText: draft.sampleText,
        baseVersion: draft.base ? draft.base.version : null,
      }, draft.base);
    }, DRAFT_DELAY_MS);
  }

  // --- drawing ---------------------------------------------------------------------------

  renderProblems() {
    this.view.renderProblems(this.state.problems);
  }

  renderHead() {
    const { draft } = this;
    this.view.renderHead({
      title: draft.doc.name || (draft.base ? draft.base.name : 'New integration'),
      dirty: draft.isDirty(),
      saved: Boolean(draft.base),
    });
  }

  /** Step 1 as the draft stands (drawn again after a change in `REDRAWS.configure`). */
  configureStep() {
    return configureStep({ draft: this.draft, focus: (key) => this.view.focusConfigure(key) });
  }

  drawConfigure() {
    this.view.fillPanel('configure', this.configureStep());
    this.renderProblems();
  }

  /** Step 4 as the draft and the last validation stand. */
  renderSave() {
    const { draft, state } = this;
    const { validation } = state;
    const print = fingerprint(draft.doc);
    const dirty = draft.isDirty();
    this.saver.render({
      id: state.id,
      base: draft.base,
      dirty,
      validation,
      fresh: this.validFresh(),
      stale: Boolean(validation && validation.fingerprint !== print),
      canDiscard: Boolean(dirty && (draft.base || loadDraft(state.key))),
      greeting: state.justSaved && !dirty,
      signingSecret: revealed && revealed.id === state.id ? revealed.secret : null,
      notifySecret: revealed && revealed.id === state.id ? revealed.notifySecret : null,
      isPubsub: Boolean(draft.base && draft.base.source && draft.base.source.type === 'pubsub'),
    });
  }

  async refreshHealth() {
    if (!this.state.id) {
      this.view.clearHealth();
      return;
    }
    const [stats, shape] = await Promise.all([
      // no stats: the line is left out, the warning still shown
      api.stats(this.state.id, new Date(Date.now() - DAY_MS).toISOString()).catch(() => null),
      // no shape yet (or not readable): no panel
      api.sourceSchema(this.state.id).catch(() => null),
    ]);
    if (this.disposed) return;
    this.view.renderHealth(signatureWarning(this.state.signatureFailures),
      stats ? healthLine(stats) : null, shapePanel(shape));
    this.view.showDrift(driftBadge(shape));
  }

  // --- steps ---------------------------------------------------------------------------

  show(step) {
    this.state.step = STEPS.some(([name]) => name === step) ? step : 'configure';
    if (!this.view.showStep(this.state.step, this.draft.doc.name || 'New integration')) return;
    if (this.state.step === 'test') this.tester.history.start();
    else this.tester.history.stop();
  }

  goTo(step, focusPath) {
    const { id, key } = this.state;
    location.hash = id ? `#/integrations/${encodeURIComponent(id)}/${step}` : `#/new/${key}/${step}`;
    this.show(step);
    if (focusPath) this.view.focusPath(step, focusPath);
  }

  update(next) {
    if ((next.id || next.key) !== this.state.key || !this.draft || !this.view.mounted) return false;
    this.show(next.step || 'configure');
    return true;
  }

  // --- the whole editor ---------------------------------------------------------------------

  async load() {
    const { state, view } = this;
    view.showLoading();
    view.clearBanners();
    let base;
    try {
      base = state.id ? await api.getIntegration(state.id) : null;
    } catch (err) {
      view.showLoadError(err.message);
      return;
    }
    if (this.disposed) return;
    state.signatureFailures = base ? base.signatureFailures || null : null;
    this.refreshHealth();
    const stored = loadDraft(state.key);
    this.draft = createDraft({
      base,
      doc: stored ? stored.doc : base || blankDocument(),
      sampleText: stored && typeof stored.sampleText === 'string' ? stored.sampleText : '',
    });
    state.validation = null;
    state.problems = { preview: [], validate: [] };
    state.justSaved = justSaved !== null && justSaved === state.id;
    this.build();
    view.renderDelivery(base ? deliveryControls(base) : null);
    if (stored && base) view.showRestored(stored, base);
    if (stored && stored.droppedSecrets && stored.droppedSecrets.length) {
      view.showDroppedSecrets(stored.droppedSecrets);
    }
    if (state.justSaved) notify(`Saved ${this.draft.doc.name}.`);
  }

  /** Draw every step anew for the current draft. */
  build() {
    const { draft, state } = this;
    if (this.previewer) this.previewer.dispose();
    if (this.tester) this.tester.history.stop();
    this.unsubscribe();
    this.unsubscribe = draft.subscribe((change) => this.onChange(change));
    this.previewer = createPreviewer(draft, (problems) => {
      state.problems.preview = problems;
      this.renderProblems();
    });
    this.tester = testStep(state.id, this.previewer, draft);
    this.saver = this.saveView();
    const configure = this.configureStep();
    this.mapper = mapStep({ draft, id: state.id, applyProblems: () => this.renderProblems() },
      this.previewer.panel());
    this.view.mount({ configure, map: this.mapper.root, test: this.tester.root, save: this.saver.root });
    this.renderSave();
    this.renderHead();
    this.show(state.step);
    this.renderProblems();
    this.previewer.schedule(0);
  }

  /** Step 4's view, bound to the editor. */
  saveView() {
    const view = new SaveView();
    view.bindValidate(() => this.validate());
    view.bindSave(() => this.save());
    view.bindSaveAnyway(() => this.save({ force: true }));
    view.bindDiscard(() => this.discard());
    view.bindLoadTheirs(() => {
      discardDraft(this.state.key);
      this.load();
    });
    view.bindOverwrite(async () => {
      const latest = await api.getIntegration(this.state.id);
      this.draft.rebase(latest.version);
      await this.save();
    });
    view.bindSendTest(() => this.sendTest());
    view.bindPublishTest(() => this.publishTest());
    view.bindShowProblem((step, path) => this.goTo(step, path));
    return view;
  }

  // --- step 4: validate, save, discard -----------------------------------------------------

  validFresh() {
    const { validation } = this.state;
    return Boolean(validation && validation.valid
      && validation.fingerprint === fingerprint(this.draft.doc));
  }

  /** Keep `validation` and, when given, show its `problems` at their fields. */
  validated(validation, problems) {
    this.state.validation = validation;
    if (!problems) return;
    this.state.problems.validate = problems;
    this.renderProblems();
  }

  async validate() {
    const { draft, saver } = this;
    const print = fingerprint(draft.doc);
    saver.showValidating();
    try {
      const result = await api.validate(documentToSave(draft.doc, draft.base), saver.checksTarget);
      const problems = result.problems.map((p) => ({ ...p, path: p.path.replace(/^integration\.?/, '') }));
      this.validated({ fingerprint: print, valid: result.valid, problems }, problems);
    } catch (err) {
      this.validated({ fingerprint: print, valid: false, problems: err.problems || [],
        error: err.message }, null);
    }
    this.renderSave();
    if (this.validFresh()) saver.focusSave();
  }

  /** Save the draft; `force` saves it even though its test cases fail. */
  async save({ force = false } = {}) {
    const { draft, saver, state } = this;
    saver.setSaving(true);
    try {
      const body = documentToSave(draft.doc, draft.base);
      const saved = state.id
        ? await api.replaceIntegration(state.id, body, force)
        : await api.createIntegration(body, force);
      this.onSaved(saved, !state.id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        saver.showConflict(err.message);
      } else if (err instanceof ApiError && err.code === 'tests_failed') {
        saver.showTestsFailed(err.body);
      } else if (err instanceof ApiError && err.problems.length) {
        this.validated({ fingerprint: fingerprint(draft.doc), valid: false, problems: err.problems },
          err.problems);
        this.renderSave();
      } else {
        saver.showNotSaved(err.message);
      }
      saver.setSaving(false);
    }
  }

  onSaved(answer, wasNew) {
    // The new key is in this answer only; the draft (and so localStorage) never holds it.
    const { newSigningSecret, newNotifySecret, ...saved } = answer;
    revealed = newSigningSecret || newNotifySecret
      ? { id: saved.id, secret: newSigningSecret || null, notifySecret: newNotifySecret || null }
      : null;
    clearTimeout(this.draftTimer);
    discardDraft(this.state.key);
    if (wasNew) {
      justSaved = saved.id;
      location.hash = `#/integrations/${encodeURIComponent(saved.id)}/save`;
      return;
    }
    this.draft = createDraft({ base: saved, doc: saved, sampleText: this.draft.sampleText });
    this.state.validation = null;
    this.state.problems.validate = [];
    this.state.justSaved = true;
    this.view.clearBanners();
    this.build();
    notify(`Saved ${saved.name}.`);
  }

  async discard() {
    const { draft } = this;
    const sure = await confirmDialog({
      title: 'Discard your changes?',
      message: draft.base ? 'The integration goes back to its saved version.'
        : 'This new integration will be gone.',
      confirm: 'Discard',
      danger: true,
    });
    if (!sure) return;
    discardDraft(this.state.key);
    if (!draft.base) {
      location.hash = '#/integrations';
      return;
    }
    this.draft = createDraft({ base: draft.base, doc: draft.base });
    this.state.validation = null;
    this.state.problems = { preview: [], validate: [] };
    this.view.clearBanners();
    this.build();
    notify('Changes discarded.');
  }

  // --- step 4: a test event through the saved integration ----------------------------------

  samplePayload() {
    const { draft } = this;
    return draft.doc.samplePayload ?? (draft.base && draft.base.samplePayload);
  }

  afterTestEvent() {
    this.tester.history.refresh();
    this.refreshHealth();
  }

  async sendTest() {
    const { saver } = this;
    const payload = this.samplePayload();
    if (payload === undefined || payload === null) {
      saver.showTestNeedsSample();
      return;
    }
    saver.showTestSending();
    try {
      const queued = await api.sendTest(this.state.id, payload);
      saver.showTestQueued(queued);
      const run = await waitForRun(queued.runId, {
        onUpdate: (current) => {
          if (!this.disposed) saver.showTestProgress(current);
        },
      });
      if (this.disposed || !run) return;
      saver.showTestRun(run);
      this.afterTestEvent();
    } catch (err) {
      saver.showTestFailure(err.message);
    }
  }

  async publishTest() {
    const payload = this.samplePayload();
    try {
      const { messageId } = await api.publishTest(this.state.id, payload ?? undefined);
      this.saver.showPublished(messageId);
      this.afterTestEvent();
    } catch (err) {
      this.saver.showTestFailure(err.message);
    }
  }

  dispose() {
    this.disposed = true;
    this.unsubscribe();
    clearTimeout(this.draftTimer);
    if (this.tester) this.tester.history.stop();
    if (this.previewer) this.previewer.dispose();
    if (justSaved === this.state.id) justSaved = null;
    if (revealed && revealed.id === this.state.id) revealed = null;
  }
}
