// Step 4's view: Validate, then Save (offered only while the validation is fresh), then a
// test event through the saved integration and its run. As TodoMVC's view.js: it draws
// from the state it is given (`render`) and calls the handlers bound to it (`bind...`);
// the editor (editor.js) keeps that state, asks the API and reads the draft.

import { copyable, el, jsonBlock, replace, statusBadge, timeAgo } from './dom.js';
import { endpointBlock } from './endpoint.js';
import { stepOf } from './problems.js';
import { bodyBlock } from './runs.js';

export class SaveView {
  constructor() {
    this.root = el('div');
    this.validationBox = el('div', { class: 'validation', role: 'status', 'aria-live': 'polite' });
    this.checkTarget = el('input', { type: 'checkbox', id: 'check-target' });
    this.testArea = el('div', { class: 'test-result', 'aria-live': 'polite' });
    this.testLine = null;
    this.testDetails = null;
    this.testLink = null;
    const none = () => {};
    this.on = {
      validate: none, save: none, saveAnyway: none, discard: none, loadTheirs: none, overwrite: none,
      sendTest: none, publishTest: none, showProblem: none,
    };
  }

  bindValidate(handler) { this.on.validate = handler; }

  bindSave(handler) { this.on.save = handler; }

  /** After a save refused for failing test cases: save it all the same (?force=true). */
  bindSaveAnyway(handler) { this.on.saveAnyway = handler; }

  bindDiscard(handler) { this.on.discard = handler; }

  /** After a conflict: drop this draft and load the saved version. */
  bindLoadTheirs(handler) { this.on.loadTheirs = handler; }

  /** After a conflict: save this draft over the other one. */
  bindOverwrite(handler) { this.on.overwrite = handler; }

  bindSendTest(handler) { this.on.sendTest = handler; }

  bindPublishTest(handler) { this.on.publishTest = handler; }

  /** A problem's Show: called with `(step, path)`. */
  bindShowProblem(handler) { this.on.showProblem = handler; }

  /** Whether Validate should also check that the target can be reached. */
  get checksTarget() {
    return this.checkTarget.checked;
  }

  /**
   * Draw the step for `state`: {id, base, dirty, validation ({fingerprint, valid, problems,
   * error}), fresh (valid for the document as it is), stale (made for another document),
   * canDiscard, greeting (just saved), signingSecret and notifySecret (keys made on save,
   * or null),
   * isPubsub}.
   */
  render(state) {
    this.renderValidation(state);
    const { base, dirty, fresh } = state;
    replace(this.root,
      el('section', { class: 'card', 'aria-labelledby': 'save-title' },
        el('h2', { id: 'save-title' }, 'Validate and save'),
        el('p', {}, base
          ? [dirty ? 'Unsaved changes to version ' : 'Saved as version ', String(base.version),
            ' · last saved ', timeAgo(base.updatedAt)]
          : 'This integration has not been saved yet.'),
        el('label', { class: 'check' }, this.checkTarget, 'Also check that the target can be reached'),
        el('div', { class: 'buttons' },
          el('button', { type: 'button', id: 'validate', class: fresh ? 'quiet' : 'primary',
            onclick: () => this.on.validate() }, 'Validate'),
          el('button', { type: 'button', id: 'save', class: 'primary', hidden: !(fresh && dirty),
            onclick: () => this.on.save() }, 'Save'),
          state.canDiscard
            ? el('button', { type: 'button', class: 'quiet danger-text', onclick: () => this.on.discard() },
              'Discard changes')
            : null),
        this.validationBox),
      state.id ? this.tryItCard(state) : null);
  }

  renderValidation({ validation, stale, fresh, dirty }) {
    if (validation && !stale && !validation.valid) {
      replace(this.validationBox,
        el('p', { class: 'problem-text' }, validation.error
          || `${validation.problems.length} problem(s) to fix before saving:`),
        el('ul', { class: 'problem-list' }, validation.problems.map((p) => el('li', {},
          el('code', {}, p.path || 'document'), ` ${p.message} `,
          stepOf(p.path) !== 'save'
            ? el('button', { type: 'button', class: 'link',
              onclick: () => this.on.showProblem(stepOf(p.path), p.path) }, 'Show')
            : null))));
    } else if (fresh) {
      replace(this.validationBox, el('p', { class: 'ok-text' }, '✓ Valid. ',
        dirty ? 'Ready to save.' : 'Nothing changed since the last save.'));
    } else if (stale) {
      replace(this.validationBox, el('p', { class: 'muted' }, 'Changed since the last validation: validate again.'));
    } else {
      replace(this.validationBox, el('p', { class: 'muted' }, dirty
        ? 'Validate to check the whole integration; Save appears once it passes.'
        : 'No changes.'));
    }
  }

  tryItCard({ base, dirty, greeting, signingSecret, notifySecret, isPubsub }) {
    return el('section', { class: 'card', 'aria-labelledby': 'try-title' },
      el('h2', { id: 'try-title' }, 'Try it for real'),
      greeting ? el('p', { class: 'ok-text' }, '✓ Saved.') : null,
      greeting && signingSecret
        ? el('div', { class: 'banner', role: 'status', 'data-reveal': 'signing' },
          copyable('New signing key', signingSecret, {
            hint: 'Give it to the receiver to verify the webhook-signature header. It is shown '
              + 'this once: it is not kept in the browser and the API never shows it again.',
          }))
        : null,
      greeting && notifySecret
        ? el('div', { class: 'banner', role: 'status', 'data-reveal': 'notify' },
          copyable('New notify key', notifySecret, {
            hint: 'It signs the notifications POSTed to your notify URL (webhook-signature). '
              + 'Shown this once, like the signing key.',
          }))
        : null,
      dirty
        ? el('p', { class: 'muted' }, 'Save first: a test event runs the saved integration.')
        : [endpointBlock(base),
          el('p', {}, 'Send the sample payload through the saved integration: it is delivered ',
            'to the target and recorded as a run.'),
          el('div', { class: 'buttons' },
            el('button', { type: 'button', id: 'send-test', class: 'primary', onclick: () => this.on.sendTest() },
              'Send test event'),
            isPubsub
              ? el('button', { type: 'button', class: 'quiet', onclick: () => this.on.publishTest() },
                'Publish the sample to the topic')
              : null)],
      this.testArea);
  }

  // --- validating and saving ---------------------------------------------------------------

  showValidating() {
    replace(this.validationBox, 'Validating…');
  }

  /** Put the focus on Save when it is offered. */
  focusSave() {
    const save = this.root.querySelector('#save');
    if (save && !save.hidden) save.focus();
  }

  /** Save's button is busy (disabled) while saving, or not. */
  setSaving(busy) {
    const button = this.root.querySelector('#save');
    if (button) button.disabled = busy;
  }

  showNotSaved(message) {
    replace(this.validationBox, el('p', { class: 'problem-text', role: 'alert' }, `Not saved: ${message}`));
  }

  /** The save was refused: test cases fail (`report`: the API's 400 tests_failed body). */
  showTestsFailed(report) {
    const failing = report.results.filter((r) => !r.ok);
    replace(this.validationBox, el('div', { class: 'error-box', role: 'alert', 'data-save': 'tests-failed' },
      el('p', {}, `Not saved: ${failing.length} of ${report.results.length} test case(s) fail.`),
      el('ul', { class: 'problem-list' }, failing.map((r) =>
        el('li', {}, el('strong', {}, r.name), ` ${r.reason}`))),
      el('p', { class: 'hint' }, 'Step 3 shows each one\'s differences.'),
      el('div', { class: 'buttons' },
        el('button', { type: 'button', class: 'quiet', onclick: () => this.on.showProblem('test', '') },
          'Show the test cases'),
        el('button', { type: 'button', class: 'danger', id: 'save-anyway',
          onclick: () => this.on.saveAnyway() }, 'Save anyway'))));
  }

  showConflict(message) {
    replace(this.validationBox, el('div', { class: 'error-box', role: 'alert' },
      el('p', {}, `Not saved: ${message}. Someone changed this integration after you opened it.`),
      el('div', { class: 'buttons' },
        el('button', { type: 'button', class: 'quiet', onclick: () => this.on.loadTheirs() },
          'Load their version (discard mine)'),
        el('button', { type: 'button', class: 'danger', onclick: () => this.on.overwrite() },
          'Overwrite with mine'))));
  }

  // --- the test event ------------------------------------------------------------------------

  showTestNeedsSample() {
    replace(this.testArea, el('p', { class: 'problem-text' }, 'Add a sample payload in step 2 first.'));
  }

  showTestSending() {
    replace(this.testArea, el('p', {}, 'Sending the sample as a real event…'));
  }

  /** The test event is queued as run `queued.runId`: its status, a link, room for its result. */
  showTestQueued(queued) {
    this.testLink = el('a', { href: `#/runs/${encodeURIComponent(queued.runId)}` }, 'Open the run');
    this.testLine = el('p', { class: 'test-line' }, statusBadge(queued.status), ' ', this.testLink);
    this.testDetails = el('div');
    replace(this.testArea, this.testLine, this.testDetails);
  }

  /** The test run as last polled. */
  showTestProgress(run) {
    replace(this.testLine, statusBadge(run.status), ' ', this.testLink,
      run.attempts ? ` · ${run.attempts} attempt(s)` : '');
  }

  /** The finished test run: its error, what was sent and the response. */
  showTestRun(run) {
    replace(this.testDetails,
      run.errorMessage ? el('pre', { class: 'error-text' }, run.errorMessage) : null,
      el('div', { class: 'grid-2' },
        el('div', {}, el('h3', {}, 'Sent'), jsonBlock(run.transformedPayload, { 'aria-label': 'Sent' })),
        el('div', {}, el('h3', {}, 'Response'),
          run.outgoingResponse
            ? [el('p', { class: 'mono' }, `Status ${run.outgoingResponse.status}`),
              bodyBlock(run.outgoingResponse.body, 'Response body')]
            : el('p', { class: 'empty' }, 'No response.'))));
  }

  showPublished(messageId) {
    replace(this.testArea, el('p', {}, `Published message ${messageId} to the topic; its run appears `,
      'in the run history once the subscription delivers it.'));
  }

  showTestFailure(message) {
    replace(this.testArea, el('p', { class: 'problem-text', role: 'alert' }, message));
  }
}
