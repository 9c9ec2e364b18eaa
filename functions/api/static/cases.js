// Step 3's saved test cases (the document's `tests`, docs/mapping.md "Test cases"): each case
// with pass or fail, why, its diff (expected -> actual) and the receiver schema's violations,
// run by the server as preview runs them; nothing is sent. "Save the sample as a test case"
// adds the sample and the output typed as expected, or else the output the preview shows now
// (typing it first lets a case say what the receiver needs before the mapping makes it).
// The cases belong to the draft: they
// are saved with the integration, and a save whose cases fail asks first (step 4).

import { api } from './api.js';
import { documentToSave } from './document.js';
import { diffTable } from './diff-view.js';
import { el, replace } from './dom.js';
import { violationList } from './preview.js';
import { can, REASON } from './signin.js';

function caseItem(testCase, i, result, onRemove) {
  const verdict = !result ? el('span', { class: 'badge' }, 'not run')
    : result.ok ? el('span', { class: 'badge status-success' }, 'pass')
      : el('span', { class: 'badge status-error' }, 'fail');
  const expects = testCase.expectSkipped ? 'expects: skipped' : 'expects an output';
  return el('li', { class: 'test-case', 'data-case': testCase.name },
    el('p', {}, verdict, ' ', el('strong', {}, testCase.name), el('span', { class: 'muted' }, ` · ${expects}`),
      ' ', el('button', { type: 'button', class: 'link danger-text', disabled: !can('editor'),
        title: can('editor') ? null : REASON.editor, 'aria-label': `Remove test case ${testCase.name}`,
        onclick: () => onRemove(i) }, 'Remove')),
    result && !result.ok ? [
      el('p', { class: 'problem-text' }, result.reason),
      result.error ? el('pre', { class: 'error-text' }, result.error) : null,
      result.diff.length ? diffTable(result.diff, `Expected and actual output of ${testCase.name}`) : null,
      violationList(result.schemaViolations),
    ] : null);
}

/**
 * The test cases card: `draft` (read, and asked to add or remove a case), `previewer` (its
 * current result is what a new case expects), `id` of the saved integration or null.
 * Returns `{root, run}`; `run()` runs the cases of the draft as it is now.
 */
export function casesPanel(id, draft, previewer) {
  const list = el('div', { 'aria-live': 'polite' });
  const summary = el('p', { class: 'hint', role: 'status', 'data-cases': 'summary' });
  const name = el('input', { type: 'text', id: 'case-name', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'paid order' });
  const expected = el('textarea', { id: 'case-expect', rows: 4, spellcheck: 'false', autocomplete: 'off',
    class: 'mono', placeholder: '{"order": {"id": "7"}}' });
  const addStatus = el('p', { class: 'hint', role: 'status' });
  let results = new Map();

  const draw = () => {
    const cases = draft.doc.tests || [];
    if (!cases.length) {
      replace(list, el('p', { class: 'empty' }, 'No test cases yet.'));
      return;
    }
    replace(list, el('ol', { class: 'plain test-cases' }, cases.map((testCase, i) =>
      caseItem(testCase, i, results.get(testCase.name), remove))));
  };

  const run = async () => {
    const cases = draft.doc.tests || [];
    if (!cases.length) {
      results = new Map();
      summary.textContent = '';
      draw();
      return;
    }
    summary.textContent = 'Running the test cases…';
    try {
      // The saved integration's own cases when nothing changed (a viewer may run them);
      // otherwise the draft's, as they would be saved.
      const answer = id && !draft.isDirty()
        ? await api.runTests(id)
        : await api.runTestsUnsaved(documentToSave(draft.doc, draft.base));
      results = new Map(answer.results.map((r) => [r.name, r]));
      summary.textContent = `${answer.passed} passed, ${answer.failed} failed. Nothing was sent.`;
    } catch (err) {
      results = new Map();
      summary.textContent = `The test cases could not run: ${err.message}`;
    }
    draw();
  };

  function remove(i) {
    draft.removeTest(i);
    run();
  }

  const add = () => {
    const preview = previewer.current();
    const label = name.value.trim();
    const taken = (draft.doc.tests || []).some((t) => t.name === label);
    if (!label || taken) {
      addStatus.textContent = label ? `A test case is named ${label} already.` : 'Name the test case first.';
      name.focus();
      return;
    }
    if (preview.kind === 'no-sample' || preview.kind === 'bad-sample') {
      addStatus.textContent = 'A test case is the sample payload: paste one in step 2 first.';
      return;
    }
    const typed = expected.value.trim();
    let wanted;
    if (typed) {
      try {
        wanted = JSON.parse(typed);
      } catch (err) {
        addStatus.textContent = `The expected output is not JSON: ${err.message}`;
        expected.focus();
        return;
      }
    } else if (preview.kind !== 'ok' || preview.pending) {
      addStatus.textContent = 'The preview has no output for the sample yet: type the expected output, '
        + 'or fix the mapping first.';
      return;
    }
    const testCase = { name: label, payload: draft.doc.samplePayload };
    if (typed) testCase.expect = wanted;
    else if (preview.skipped) testCase.expectSkipped = true;
    else testCase.expect = preview.output;
    if (preview.extras.headers) testCase.headers = preview.extras.headers;
    if (preview.extras.attributes) testCase.attributes = preview.extras.attributes;
    draft.addTest(testCase);
    name.value = '';
    expected.value = '';
    addStatus.textContent = `Added ${label}; it is saved with the integration.`;
    run();
  };

  draw();
  const root = el('section', { class: 'card test-cases-card', 'aria-labelledby': 'cases-title' },
    el('div', { class: 'page-head' }, el('h2', { id: 'cases-title' }, 'Test cases'),
      el('span', { class: 'spacer' }),
      el('button', { type: 'button', class: 'quiet', id: 'run-cases', onclick: run }, 'Run test cases')),
    el('p', { class: 'hint' }, 'Payloads and what must come of them, saved with the integration. '
      + 'They run as the preview does; saving while one fails asks first.'),
    summary,
    list,
    el('div', { class: 'field' }, el('label', { for: 'case-expect' }, 'Expected output (JSON, optional)'),
      expected,
      el('p', { class: 'hint' }, 'Empty: the output the preview shows now.')),
    el('div', { class: 'filters' },
      el('div', { class: 'field' }, el('label', { for: 'case-name' }, 'New test case name'), name),
      el('div', { class: 'buttons' }, el('button', { type: 'button', class: 'primary', id: 'add-case',
        disabled: !can('editor'), title: can('editor') ? null : REASON.editor, onclick: add },
      'Save the sample as a test case'))),
    addStatus);
  return { root, run };
}
