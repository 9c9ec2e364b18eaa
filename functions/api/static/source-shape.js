// The shape of an integration's accepted payloads (GET /api/integrations/{id}/source_schema/),
// read the same way by the list (a badge) and the editor (the badge and the "Source shape"
// panel). docs/mapping.md, "Source shape and drift".

import { el, timeAgo } from './dom.js';

const KIND_TEXT = {
  missing: 'missing',
  typeChanged: 'type changed',
  new: 'new',
};

/** The drift on paths a mapping reads. */
export function mappedDrift(shape) {
  return ((shape && shape.drift) || []).filter((d) => d.mapped);
}

/** A badge when a path a mapping reads drifted, else null. */
export function driftBadge(shape) {
  const drift = mappedDrift(shape);
  if (!drift.length) return null;
  const paths = drift.map((d) => `${d.path} (${KIND_TEXT[d.kind] || d.kind})`).join(', ');
  return el('span', { class: 'badge drift', 'data-badge': 'drift', title: `A mapping reads: ${paths}` },
    drift.length === 1 ? 'source drift' : `source drift ×${drift.length}`);
}

/** The "Source shape" panel: drift first, then every path with its types and times. */
export function shapePanel(shape) {
  if (!shape || !shape.paths || !shape.paths.length) return null;
  const drift = shape.drift || [];
  const byPath = new Map(drift.map((d) => [d.path, d]));
  const driftList = drift.length
    ? el('ul', { class: 'drift-list', 'aria-label': 'Drift' }, drift.map((d) => el('li',
      { 'data-path': d.path, 'data-kind': d.kind, class: d.mapped ? 'mapped' : null },
      el('code', {}, d.path), ` ${KIND_TEXT[d.kind] || d.kind} since `, timeAgo(d.since),
      d.mapped ? [' ', el('strong', {}, 'read by a mapping')] : null)))
    : el('p', { class: 'muted' }, 'No drift.');
  const rows = shape.paths.map((p) => {
    const found = byPath.get(p.path);
    return el('tr', { 'data-path': p.path },
      el('th', { scope: 'row' }, el('code', {}, p.path),
        found ? [' ', el('span', { class: `badge drift-kind ${found.mapped ? 'drift' : ''}` },
          KIND_TEXT[found.kind] || found.kind)] : null),
      el('td', {}, (p.types || []).join(', ')),
      el('td', {}, timeAgo(p.firstSeen)),
      el('td', {}, timeAgo(p.lastSeen)));
  });
  const open = mappedDrift(shape).length > 0;
  return el('details', { class: 'source-shape card', 'data-panel': 'source-shape', open },
    el('summary', {}, 'Source shape', ' ',
      el('span', { class: 'muted' }, `(${shape.paths.length} paths from ${shape.payloads || 0} payloads, sampled)`),
      driftBadge(shape) ? [' ', driftBadge(shape)] : null),
    driftList,
    el('table', { class: 'table' },
      el('thead', {}, el('tr', {}, ['Path', 'Types', 'First seen', 'Last seen']
        .map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows)));
}
