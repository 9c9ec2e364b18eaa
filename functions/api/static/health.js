// How an integration has been doing: the counts of GET /api/integrations/{id}/stats/ read
// the same way by the list and the editor, and the warning about refused signatures.

import { el, jsonBlock, timeAgo } from './dom.js';

const count = (value) => (typeof value === 'number' && value > 0 ? value : 0);

/**
 * Runs that failed: `error`, `dead_lettered` and `partial` when the stats name them; when
 * they give only success, error and skipped, every run that is neither one of those nor in
 * flight (a dead-lettered run is then still a failure, not left out).
 */
export function failedRuns(stats) {
  const deadLettered = stats.dead_lettered ?? stats.deadLettered;
  if (typeof deadLettered === 'number') {
    return count(stats.error) + count(deadLettered) + count(stats.partial);
  }
  const rest = count(stats.total) - count(stats.success) - count(stats.skipped)
    - count(stats.inFlight);
  return Math.max(count(stats.error), rest);
}

/** `{rate, failed, detail}`: the success rate as text ("80%", or "—" with nothing finished). */
export function summary(stats) {
  const failed = failedRuns(stats);
  const decided = count(stats.success) + failed;
  const rate = decided ? `${Math.round((100 * count(stats.success)) / decided)}%` : '—';
  const detail = `${count(stats.success)} succeeded, ${failed} failed, `
    + `${count(stats.skipped)} skipped of ${count(stats.total)} in the last 24 h; `
    + `${count(stats.inFlight)} in flight, ${count(stats.stuck)} stuck`;
  return { rate, failed, detail };
}

/** The runs in flight, and how many of them are stuck, as a table cell's content. */
export function inFlightText(stats) {
  const moving = count(stats.inFlight);
  const stuck = count(stats.stuck);
  return [String(moving), stuck
    ? [' ', el('span', { class: 'badge stuck', title: 'in flight past the reconciler\'s horizon' },
      `${stuck} stuck`)]
    : null];
}

/** The editor's line about the last 24 hours (a saved integration's stats). */
export function healthLine(stats) {
  const { rate, failed } = summary(stats);
  const stuck = count(stats.stuck);
  const part = (value, label, name) => el('span', { class: 'health-count', 'data-count': name },
    el('strong', {}, String(value)), ` ${label}`);
  return el('p', { class: 'health', 'aria-label': 'Last 24 hours' },
    el('span', { class: 'muted' }, 'Last 24 h: '),
    part(rate, 'success', 'rate'), ' · ',
    part(count(stats.success), 'succeeded', 'success'), ' · ',
    part(failed, 'failed', 'failed'), ' · ',
    part(count(stats.skipped), 'skipped', 'skipped'), ' · ',
    part(count(stats.inFlight), 'in flight', 'inFlight'), ' · ',
    stuck
      ? el('span', { class: 'health-count stuck', 'data-count': 'stuck',
        title: "In flight for longer than the reconciler's horizon: it republishes them, then "
          + 'ends them as errors.' }, el('strong', {}, String(stuck)), ' stuck')
      : part(0, 'stuck', 'stuck'),
    stats.lastRun ? [' · last run ', timeAgo(stats.lastRun.createdAt)] : null);
}

/** A warning about webhook requests refused for their signature, or null without any. */
export function signatureWarning(failures) {
  if (!failures || !failures.count) return null;
  const plural = failures.count === 1 ? 'request was' : 'requests were';
  const headers = failures.sampleHeaders && Object.keys(failures.sampleHeaders).length
    ? el('details', {}, el('summary', {}, 'Headers of the latest one'),
      jsonBlock(failures.sampleHeaders, { 'aria-label': 'Headers of the latest refused request' }))
    : null;
  return el('div', { class: 'banner warning', role: 'status', 'data-warning': 'signature' },
    el('p', {}, el('strong', {}, `⚠ ${failures.count} webhook ${plural} refused`),
      ' for a bad signature, first ', timeAgo(failures.firstSeenAt), ', last ',
      timeAgo(failures.lastSeenAt), '.',
      failures.reason ? [' Reason: ', el('span', { class: 'reason' }, failures.reason), '.'] : null,
      ' Check that the sender signs with the secret saved here (or that the URL has not leaked).'),
    headers);
}
