// The live preview: the draft's condition and mappings run on the sample by the server,
// with the same engine that runs in production. Nothing is sent anywhere.

import { api, ApiError } from './api.js';
import { el, jsonBlock, replace } from './dom.js';

// Only the condition and mappings matter to a preview, and the API takes a partial
// document (no name, source or target), so it works before step 1 is finished.
function previewDocument(doc) {
  const jsonata = typeof doc.jsonata === 'string' && doc.jsonata.trim() ? doc.jsonata : null;
  const out = jsonata ? { jsonata } : { mappings: doc.mappings || [] };
  const schema = doc.target && doc.target.schema;
  // The receiver's schema goes with it: the preview lists where the output breaks it.
  if (schema) out.target = { type: 'http', url: 'https://preview.invalid/', schema };
  if (doc.condition && doc.condition.trim()) out.condition = doc.condition;
  if (doc.sandbox) out.sandbox = doc.sandbox;
  return out;
}

/** Where the output breaks the receiver's schema (target.schema), or nothing. */
export function violationList(violations) {
  if (!violations || !violations.length) return null;
  return el('div', { class: 'violations', role: 'alert', 'data-preview': 'violations' },
    el('p', { class: 'problem-text' },
      `Breaks the receiver's schema (${violations.length}): a run would be an error, and nothing sent.`),
    el('ul', { class: 'problem-list' }, violations.map((v) =>
      el('li', {}, el('code', {}, v.path || '(the whole output)'), ` ${v.message}`))));
}

function unprefixed(problems) {
  return problems.map((p) => ({ ...p, path: (p.path || '').replace(/^integration\.?/, '') }));
}

/**
 * Runs previews of `draft` (draft.js) when asked (debounced), keeps the latest result and
 * redraws every panel made by `panel()`. `onProblems(list)` receives the problems to show
 * at their fields.
 */
export function createPreviewer(draft, onProblems) {
  let timer = null;
  let sequence = 0;
  let result = { kind: 'idle' };
  let extras = {}; // webhook headers and Pub/Sub attributes for the condition (step 3)
  const panels = new Set();

  const publish = () => {
    for (const draw of panels) draw();
  };

  const run = async () => {
    const mine = ++sequence;
    if (!draft.sampleText.trim()) {
      result = { kind: 'no-sample' };
    } else if (draft.sampleError) {
      result = { kind: 'bad-sample', message: draft.sampleError };
    } else {
      result = { ...result, pending: true };
      publish();
      const extra = {};
      if (extras.headers) extra.headers = extras.headers;
      if (extras.attributes) extra.attributes = extras.attributes;
      try {
        const reply = await api.preview(previewDocument(draft.doc), draft.doc.samplePayload, extra);
        if (mine !== sequence) return;
        const body = reply.body || {};
        if (reply.status === 200) {
          result = { kind: 'ok', skipped: body.skipped, output: body.output, timings: body.timings,
            violations: body.schemaViolations || [] };
        } else if (reply.status === 422) {
          result = { kind: 'failed', error: body.error, path: body.path || '', timings: body.timings };
        } else if (reply.status === 400 && body.problems) {
          result = { kind: 'invalid', problems: unprefixed(body.problems) };
        } else {
          result = { kind: 'unavailable', message: body.error || `the API answered ${reply.status}` };
        }
      } catch (err) {
        if (mine !== sequence) return;
        result = { kind: 'unavailable', message: err instanceof ApiError ? err.message : String(err) };
      }
    }
    const problems = result.kind === 'failed'
      ? [{ path: result.path, message: result.error }]
      : result.kind === 'invalid' ? result.problems : [];
    onProblems(problems);
    publish();
  };

  return {
    /** The latest result: {kind: 'ok', skipped, output, violations, ...} once one came back. */
    current() {
      return { ...result, extras: { ...extras } };
    },
    /** Headers and attributes (objects, or null for none) for the next previews. */
    setExtras({ headers, attributes }) {
      extras = { headers, attributes };
      this.schedule();
    },
    schedule(delay = 300) {
      clearTimeout(timer);
      timer = setTimeout(run, delay);
    },
    dispose() {
      clearTimeout(timer);
      sequence += 1;
      panels.clear();
    },
    /** A panel showing the output; `withInput` adds the sample beside it. */
    panel({ withInput = false, title = 'Output preview' } = {}) {
      const status = el('p', { class: 'preview-status', role: 'status', 'aria-live': 'polite' });
      const body = el('div', { class: 'preview-body' });
      const root = el('div', { class: ['preview', withInput && 'preview-wide'] },
        el('h2', {}, title), status, body);
      const draw = () => {
        const timing = result.timings ? ` · ${result.timings.transformMs} ms` : '';
        const busy = result.pending ? ' (updating…)' : '';
        const output = (value) => jsonBlock(value, { 'aria-label': 'Output', 'data-preview': 'output' });
        const input = () => (withInput
          ? el('div', {}, el('h3', {}, 'Input'), jsonBlock(draft.doc.samplePayload, { 'aria-label': 'Input' }))
          : null);
        root.dataset.state = result.kind;
        switch (result.kind) {
          case 'ok':
            if (result.skipped) {
              replace(status, el('span', { class: 'badge status-skipped' }, 'skipped'),
                ` The condition is false for this sample: nothing would be sent${timing}${busy}`);
              replace(body, input());
            } else {
              replace(status, el('span', { class: 'badge status-success' }, 'output'),
                ` What the target would receive${timing}${busy}`);
              replace(body, input(), el('div', {}, withInput ? el('h3', {}, 'Output') : null,
                output(result.output), violationList(result.violations)));
            }
            break;
          case 'failed':
            replace(status, el('span', { class: 'badge status-error' }, 'error'),
              ` at ${result.path || 'the message'}${busy}`);
            replace(body, input(), el('pre', { class: 'error-text', 'data-preview': 'error' },
              `${result.path ? `${result.path}: ` : ''}${result.error}`));
            break;
          case 'invalid':
            replace(status, el('span', { class: 'badge status-error' }, 'invalid'),
              ` ${result.problems.length} problem(s) in the condition or the output fields${busy}`);
            replace(body, el('ul', { class: 'problem-list' }, result.problems.map((p) =>
              el('li', {}, el('code', {}, p.path || 'document'), ` ${p.message}`))));
            break;
          case 'no-sample':
            replace(status, 'Paste a sample payload to see the output here.');
            body.replaceChildren();
            break;
          case 'bad-sample':
            replace(status, el('span', { class: 'problem-text' }, `The sample is not JSON: ${result.message}`));
            body.replaceChildren();
            break;
          case 'unavailable':
            replace(status, el('span', { class: 'problem-text' }, `Preview unavailable: ${result.message}`));
            break;
          default:
            replace(status, 'Preparing the preview…');
        }
      };
      panels.add(draw);
      draw();
      return root;
    },
  };
}
