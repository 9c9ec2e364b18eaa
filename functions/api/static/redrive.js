// Redrive (runs view): failed runs chosen by filter are counted first (a dry run), then, once
// confirmed, resent as new runs by a job whose progress is polled until it ends.

import { api } from './api.js';
import { confirmDialog } from './dialog.js';
import { el, replace } from './dom.js';
import { REDRIVE_STATUSES, STATUS } from './run-vocabulary.js';
import { can, REASON } from './signin.js';

const POLL_MS = 1000;
const POLL_MAX_MS = 5000;

/**
 * The Redrive card. `filters` are the runs view's (integration_id, status, since, until):
 * they preselect the redrive's own; `names` maps integration ids to names.
 */
export function redrivePanel(filters, names) {
  let timer = null;
  let stopped = false;
  const boxes = REDRIVE_STATUSES.map((status) => el('input', { type: 'checkbox', value: status,
    id: `redrive-${status}`,
    checked: filters.status ? filters.status === status : true }));
  const count = el('button', { type: 'button', class: 'primary', id: 'redrive-count',
    disabled: !can('editor'), title: can('editor') ? null : REASON.editor }, 'Count failed runs');
  const outcome = el('div', { class: 'redrive-outcome', 'aria-live': 'polite' });

  const chosen = () => {
    const filter = { statuses: boxes.filter((box) => box.checked).map((box) => box.value) };
    if (filters.integration_id) filter.integrationId = filters.integration_id;
    if (filters.since) filter.since = filters.since;
    if (filters.until) filter.until = filters.until;
    return filter;
  };
  const scope = (filter) => [
    filter.integrationId ? `of ${names.get(filter.integrationId) || filter.integrationId}` : 'of every integration',
    filter.since ? ` from ${new Date(filter.since).toLocaleString()}` : '',
    filter.until ? ` until ${new Date(filter.until).toLocaleString()}` : '',
  ].join('');

  const watch = async (jobId, delay = POLL_MS) => {
    try {
      const job = await api.redriveJob(jobId);
      if (stopped) return;
      const handled = job.queued + job.failed;
      replace(outcome,
        el('p', { 'data-job-state': job.state }, job.state === 'running'
          ? `Redriving: ${job.queued} of ${job.total} resent${job.failed ? `, ${job.failed} not` : ''}…`
          : job.state === 'done'
            ? `Done: ${job.queued} of ${job.total} resent as new runs${job.failed ? `, ${job.failed} not resent` : ''}.`
            : `The job failed: ${job.error || 'no reason given'} (${job.queued} resent).`),
        el('progress', { max: String(Math.max(job.total, 1)), value: String(handled),
          'aria-label': 'Redrive progress' }),
        job.failures && job.failures.length ? el('details', {}, el('summary', {}, 'Runs not resent'),
          el('ul', {}, job.failures.map((f) => el('li', {},
            el('a', { href: `#/runs/${encodeURIComponent(f.runId)}` }, f.runId), `: ${f.reason}`)))) : null,
        job.state !== 'running' ? el('p', {}, el('a', { href: `#/runs?kind=replay${job.filter && job.filter.integrationId
          ? `&integration=${encodeURIComponent(job.filter.integrationId)}` : ''}` }, 'See the new runs')) : null);
      if (job.state === 'running') {
        timer = setTimeout(() => watch(jobId, Math.min(delay * 1.5, POLL_MAX_MS)), delay);
      }
    } catch (err) {
      if (!stopped) replace(outcome, el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
  };

  const start = async (filter, expected) => {
    const sure = await confirmDialog({
      title: `Redrive ${expected} run${expected === 1 ? '' : 's'}?`,
      message: `Each ${filter.statuses.join(' or ')} run ${scope(filter)} is sent again through its `
        + 'integration as it is now, as a new run that links back to it.',
      confirm: 'Redrive',
    });
    if (!sure) return;
    try {
      const started = await api.redrive(filter, false);
      replace(outcome, el('p', {}, `Started: ${started.count} runs to resend.`));
      watch(started.jobId);
    } catch (err) {
      replace(outcome, el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
  };

  count.addEventListener('click', async () => {
    const filter = chosen();
    if (!filter.statuses.length) {
      replace(outcome, el('p', { class: 'problem-text', role: 'alert' }, 'Choose at least one status.'));
      return;
    }
    count.disabled = true;
    try {
      const dry = await api.redrive(filter, true);
      const go = el('button', { type: 'button', class: 'primary', id: 'redrive-start',
        disabled: !dry.count, onclick: () => start(filter, dry.count) },
      `Redrive ${dry.count} run${dry.count === 1 ? '' : 's'}…`);
      replace(outcome, el('p', { 'data-dry-count': String(dry.count) },
        `${dry.count} ${filter.statuses.join(' or ')} run${dry.count === 1 ? '' : 's'} ${scope(filter)} `
        + 'would be sent again. ', go));
    } catch (err) {
      replace(outcome, el('p', { class: 'problem-text', role: 'alert' }, err.message));
    }
    count.disabled = !can('editor');
  });

  const root = el('details', { class: 'card redrive' },
    el('summary', {}, 'Redrive failed runs'),
    el('p', { class: 'hint' }, 'Uses the integration and time filters above. Each run is resent '
      + 'once per job, at a bounded rate, through the integration as it is now.'),
    el('fieldset', { class: 'inline' }, el('legend', {}, 'Statuses'),
      boxes.map((box) => el('label', { for: box.id, class: 'check' }, box, ` ${box.value.replace('_', ' ')}`))),
    el('div', { class: 'buttons' }, count),
    outcome);
  return {
    root,
    dispose() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
