// Step 4: Validate, then Save (offered only while the validation is fresh), then send a
// test event through the saved integration and show its run.

import { api, ApiError, waitForRun } from './api.js';
import { confirmDialog } from './dialog.js';
import { documentToSave, fingerprint } from './document.js';
import { copyable, el, jsonBlock, replace, statusBadge, timeAgo } from './dom.js';
import { endpointBlock } from './endpoint.js';
import { stepOf } from './problems.js';
import { bodyBlock } from './runs.js';
import { discardDraft, loadDraft } from './stored-drafts.js';

/**
 * The step for the editor's `ctx`: {draft, key, id, validation(), validated(validation,
 * problems), justSaved(), newSigningSecret(), goTo(step, path), onSaved(saved, wasNew),
 * onDiscarded(), reload(),
 * afterTestEvent(), disposed()}. It reads the draft and asks the editor to keep a validation
 * (and show its problems) instead of writing the editor's state.
 * Returns `{root, draw, discard}`; the editor calls `draw()` after every change.
 */
export function saveStep(ctx) {
  const { draft } = ctx;
  const root = el('div');
  const validationBox = el('div', { class: 'validation', role: 'status', 'aria-live': 'polite' });
  const checkTarget = el('input', { type: 'checkbox', id: 'check-target' });
  const testArea = el('div', { class: 'test-result', 'aria-live': 'polite' });

  const validFresh = () => {
    const validation = ctx.validation();
    return Boolean(validation && validation.valid
      && validation.fingerprint === fingerprint(draft.doc));
  };

  const validate = async () => {
    const print = fingerprint(draft.doc);
    replace(validationBox, 'Validating…');
    try {
      const result = await api.validate(documentToSave(draft.doc, draft.base), checkTarget.checked);
      const problems = result.problems.map((p) => ({ ...p, path: p.path.replace(/^integration\.?/, '') }));
      ctx.validated({ fingerprint: print, valid: result.valid, problems }, problems);
    } catch (err) {
      ctx.validated({ fingerprint: print, valid: false, problems: err.problems || [],
        error: err.message }, null);
    }
    draw();
    if (validFresh()) {
      const save = root.querySelector('#save');
      if (save && !save.hidden) save.focus();
    }
  };

  const save = async () => {
    const button = root.querySelector('#save');
    if (button) button.disabled = true;
    try {
      const body = documentToSave(draft.doc, draft.base);
      const saved = ctx.id
        ? await api.replaceIntegration(ctx.id, body)
        : await api.createIntegration(body);
      ctx.onSaved(saved, !ctx.id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        drawConflict(err.message);
      } else if (err instanceof ApiError && err.problems.length) {
        ctx.validated({ fingerprint: fingerprint(draft.doc), valid: false, problems: err.problems },
          err.problems);
        draw();
      } else {
        replace(validationBox, el('p', { class: 'problem-text', role: 'alert' }, `Not saved: ${err.message}`));
      }
      if (button) button.disabled = false;
    }
  };

  const drawConflict = (message) => {
    replace(validationBox, el('div', { class: 'error-box', role: 'alert' },
      el('p', {}, `Not saved: ${message}. Someone changed this integration after you opened it.`),
      el('div', { class: 'buttons' },
        el('button', { type: 'button', class: 'quiet', onclick: () => {
          discardDraft(ctx.key);
          ctx.reload();
        } }, 'Load their version (discard mine)'),
        el('button', { type: 'button', class: 'danger', onclick: async () => {
          const latest = await api.getIntegration(ctx.id);
          draft.rebase(latest.version);
          await save();
        } }, 'Overwrite with mine'))));
  };

  const discard = async () => {
    const sure = await confirmDialog({
      title: 'Discard your changes?',
      message: draft.base ? 'The integration goes back to its saved version.'
        : 'This new integration will be gone.',
      confirm: 'Discard',
      danger: true,
    });
    if (!sure) return;
    discardDraft(ctx.key);
    ctx.onDiscarded();
  };

  const samplePayload = () => draft.doc.samplePayload ?? (draft.base && draft.base.samplePayload);

  const sendTest = async () => {
    const payload = samplePayload();
    if (payload === undefined || payload === null) {
      replace(testArea, el('p', { class: 'problem-text' }, 'Add a sample payload in step 2 first.'));
      return;
    }
    replace(testArea, el('p', {}, 'Sending the sample as a real event…'));
    try {
      const queued = await api.sendTest(ctx.id, payload);
      const link = el('a', { href: `#/runs/${encodeURIComponent(queued.runId)}` }, 'Open the run');
      const line = el('p', { class: 'test-line' }, statusBadge(queued.status), ' ', link);
      const details = el('div');
      replace(testArea, line, details);
      const run = await waitForRun(queued.runId, {
        onUpdate: (current) => {
          if (ctx.disposed()) return;
          replace(line, statusBadge(current.status), ' ', link,
            current.attempts ? ` · ${current.attempts} attempt(s)` : '');
        },
      });
      if (ctx.disposed() || !run) return;
      replace(details,
        run.errorMessage ? el('pre', { class: 'error-text' }, run.errorMessage) : null,
        el('div', { class: 'grid-2' },
          el('div', {}, el('h3', {}, 'Sent'), jsonBlock(run.transformedPayload, { 'aria-label': 'Sent' })),
          el('div', {}, el('h3', {}, 'Response'),
            run.outgoingResponse
              ? [el('p', { class: 'mono' }, `Status ${run.outgoingResponse.status}`),
                bodyBlock(run.outgoingResponse.body, 'Response body')]
              : el('p', { class: 'empty' }, 'No response.'))));
      ctx.afterTestEvent();
    } catch (err) {
      replace(testArea, el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
  };

  const publishTest = async () => {
    const payload = samplePayload();
    try {
      const { messageId } = await api.publishTest(ctx.id, payload ?? undefined);
      replace(testArea, el('p', {}, `Published message ${messageId} to the topic; its run appears `,
        'in the run history once the subscription delivers it.'));
      ctx.afterTestEvent();
    } catch (err) {
      replace(testArea, el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
  };

  const drawValidation = (dirty, fresh) => {
    const validation = ctx.validation();
    const stale = validation && validation.fingerprint !== fingerprint(draft.doc);
    if (validation && !stale && !validation.valid) {
      replace(validationBox,
        el('p', { class: 'problem-text' }, validation.error
          || `${validation.problems.length} problem(s) to fix before saving:`),
        el('ul', { class: 'problem-list' }, validation.problems.map((p) => el('li', {},
          el('code', {}, p.path || 'document'), ` ${p.message} `,
          stepOf(p.path) !== 'save'
            ? el('button', { type: 'button', class: 'link', onclick: () => ctx.goTo(stepOf(p.path), p.path) },
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
  };

  const draw = () => {
    const dirty = draft.isDirty();
    const fresh = validFresh();
    drawValidation(dirty, fresh);
    const greeting = ctx.justSaved() && !dirty;
    replace(root,
      el('section', { class: 'card', 'aria-labelledby': 'save-title' },
        el('h2', { id: 'save-title' }, 'Validate and save'),
        el('p', {}, draft.base
          ? [dirty ? 'Unsaved changes to version ' : 'Saved as version ', String(draft.base.version),
            ' · last saved ', timeAgo(draft.base.updatedAt)]
          : 'This integration has not been saved yet.'),
        el('label', { class: 'check' }, checkTarget, 'Also check that the target can be reached'),
        el('div', { class: 'buttons' },
          el('button', { type: 'button', id: 'validate', class: fresh ? 'quiet' : 'primary', onclick: validate },
            'Validate'),
          el('button', { type: 'button', id: 'save', class: 'primary', hidden: !(fresh && dirty), onclick: save },
            'Save'),
          dirty && (draft.base || loadDraft(ctx.key))
            ? el('button', { type: 'button', class: 'quiet danger-text', onclick: discard }, 'Discard changes')
            : null),
        validationBox),
      ctx.id ? el('section', { class: 'card', 'aria-labelledby': 'try-title' },
        el('h2', { id: 'try-title' }, 'Try it for real'),
        greeting ? el('p', { class: 'ok-text' }, '✓ Saved.') : null,
        greeting && ctx.newSigningSecret()
          ? el('div', { class: 'banner', role: 'status', 'data-reveal': 'signing' },
            copyable('New signing key', ctx.newSigningSecret(), {
              hint: 'Give it to the receiver to verify the webhook-signature header. It is shown '
                + 'this once: it is not kept in the browser and the API never shows it again.',
            }))
          : null,
        dirty
          ? el('p', { class: 'muted' }, 'Save first: a test event runs the saved integration.')
          : [endpointBlock(draft.base),
            el('p', {}, 'Send the sample payload through the saved integration: it is delivered ',
              'to the target and recorded as a run.'),
          el('div', { class: 'buttons' },
            el('button', { type: 'button', id: 'send-test', class: 'primary', onclick: sendTest },
              'Send test event'),
            draft.base && draft.base.source && draft.base.source.type === 'pubsub'
              ? el('button', { type: 'button', class: 'quiet', onclick: publishTest },
                'Publish the sample to the topic')
              : null)],
        testArea) : null);
  };

  return { root, draw, discard };
}
