// "Try on recent runs" (step 3): the draft as it is now, run by the server over the stored
// payloads of the integration's recent runs (POST /api/integrations/{id}/backtest/). Nothing
// is sent and no run is written. The draft is only read (its snapshot), never changed.

import { api } from './api.js';
import { documentToSave } from './document.js';
import { diffTable } from './diff-view.js';
import { el, replace, statusBadge } from './dom.js';
import { RUN_STATUSES, STATUS } from './run-vocabulary.js';
import { can, REASON } from './signin.js';

const LIMITS = [20, 50, 100, 200];
const SHOWN_RUNS = 50;
const TOTALS = [
  ['runs', 'runs tried'],
  ['same', 'same'],
  ['changed', 'changed'],
  ['nowSkipped', 'now skipped'],
  ['nowFailing', 'now failing'],
  ['noPayload', 'without a payload'],
];

/** True when the candidate's outcome on this run differs from what was recorded. */
function differs(item) {
  if (item.diff.length) return true;
  if (item.skipped) return item.recordedStatus !== STATUS.SKIPPED;
  return Boolean(item.error) && ![STATUS.ERROR, STATUS.DEAD_LETTERED].includes(item.recordedStatus);
}

function runResult(item) {
  let what;
  if (item.skipped) what = el('p', {}, el('span', { class: 'badge status-skipped' }, 'now skipped'),
    ' The condition is false for this run: nothing would be sent.');
  else if (item.error) what = el('p', {}, el('span', { class: 'badge status-error' }, 'now failing'), ' ',
    el('span', { class: 'error-text' }, item.error));
  else what = diffTable(item.diff, `What changes for run ${item.runId}`);
  return el('li', { class: 'backtest-run', 'data-run': item.runId },
    el('p', {}, el('a', { href: `#/runs/${encodeURIComponent(item.runId)}` }, el('code', {}, item.runId)),
      ' recorded ', statusBadge(item.recordedStatus)),
    what);
}

/** The "Try on recent runs" card for the saved integration `id`, reading `draft`. */
export function backtestPanel(id, draft) {
  const status = el('select', { id: 'backtest-status' },
    el('option', { value: '' }, 'Any status'),
    RUN_STATUSES.map((s) => el('option', { value: s }, s.replace('_', ' '))));
  const limit = el('select', { id: 'backtest-limit' },
    LIMITS.map((n) => el('option', { value: String(n), selected: n === 50 }, `latest ${n}`)));
  const result = el('div', { class: 'backtest-result', 'aria-live': 'polite' });
  const button = el('button', { type: 'button', class: 'primary', id: 'backtest',
    disabled: !can('editor'), title: can('editor') ? null : REASON.editor }, 'Try on recent runs');

  const run = async () => {
    button.disabled = true;
    replace(result, el('p', { class: 'muted' }, 'Trying the mapping on the stored runs…'));
    const runs = { limit: Number(limit.value) };
    if (status.value) runs.status = status.value;
    try {
      const answer = await api.backtest(id, documentToSave(draft.doc, draft.base), runs);
      const { totals } = answer;
      const changed = answer.results.filter(differs);
      replace(result,
        el('ul', { class: 'totals', 'aria-label': 'Backtest totals' }, TOTALS.map(([name, label]) =>
          el('li', { 'data-total': name, class: [totals[name] && name !== 'runs' && name !== 'same' && 'notable'] },
            el('strong', {}, String(totals[name] ?? 0)), ` ${label}`))),
        totals.runs === 0 ? el('p', { class: 'empty' }, 'No stored runs match: nothing to try.') : null,
        changed.length ? [
          el('h3', {}, `Runs that would differ (${changed.length})`),
          el('ol', { class: 'plain backtest-runs' }, changed.slice(0, SHOWN_RUNS).map(runResult)),
          changed.length > SHOWN_RUNS
            ? el('p', { class: 'hint' }, `The first ${SHOWN_RUNS} are shown.`) : null,
        ] : totals.runs ? el('p', { class: 'ok-text' }, 'Every run tried comes out as recorded.') : null,
        el('p', { class: 'hint' }, 'Nothing was sent and no run was written. ',
          el('a', { href: `#/integrations/${encodeURIComponent(id)}/save` }, 'Validate and save'),
          ' when it looks right.'));
    } catch (err) {
      replace(result, el('p', { class: 'problem-text', role: 'alert' }, err.message),
        err.problems && err.problems.length ? el('ul', { class: 'problem-list' }, err.problems.map((p) =>
          el('li', {}, el('code', {}, p.path || 'document'), ` ${p.message}`))) : null);
    }
    button.disabled = !can('editor');
  };
  button.addEventListener('click', run);

  return el('section', { class: 'card backtest', 'aria-labelledby': 'backtest-title' },
    el('h2', { id: 'backtest-title' }, 'Try on recent runs'),
    el('p', { class: 'hint' }, 'Runs the mapping as it is in this editor (saved or not) over the '
      + 'payloads of this integration\'s stored runs and compares with what each run sent. '
      + 'Nothing is sent.'),
    el('div', { class: 'filters' },
      el('div', { class: 'field' }, el('label', { for: 'backtest-limit' }, 'Runs'), limit),
      el('div', { class: 'field' }, el('label', { for: 'backtest-status' }, 'Status'), status),
      el('div', { class: 'buttons' }, button)),
    result);
}
