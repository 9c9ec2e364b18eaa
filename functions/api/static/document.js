// The integration document as the editor holds it: a blank one, a tidy copy, a fingerprint
// to tell whether anything changed, and the body sent on save.

/** Fields the server owns (CONTRACT.md section 2); never compared, never copied. */
export const SERVER_FIELDS = ['id', 'version', 'webhookPath', 'webhookUrl', 'pushPath',
  'pushEndpoint', 'listenerActive', 'managedSubscription', 'lastPulledAt', 'listenerError',
  'createdAt', 'updatedAt'];

export function blankDocument() {
  return {
    name: '',
    active: true,
    source: { type: 'webhook' },
    condition: '',
    mappings: [],
    target: { type: 'http', method: 'POST', url: '', headers: {} },
  };
}

/** A copy with every list and object the editor's controls expect. */
export function normalised(doc) {
  const out = structuredClone(doc);
  out.mappings ||= [];
  for (const mapping of out.mappings) mapping.transforms ||= [];
  out.source ||= { type: 'webhook' };
  out.target ||= { type: 'http', method: 'POST', url: '' };
  if (out.target.type === 'http') out.target.headers ||= {};
  if (out.condition === null || out.condition === undefined) out.condition = '';
  return out;
}

/** A canonical text of what would be saved: key order, blanks and server fields ignored. */
export function fingerprint(doc) {
  const clean = (value) => {
    if (Array.isArray(value)) return value.map(clean);
    if (value && typeof value === 'object') {
      const out = {};
      for (const key of Object.keys(value).sort()) {
        const item = value[key];
        if (item === undefined) continue;
        // An empty object or list means the same as none here (headers, transforms).
        if (item && typeof item === 'object' && !Object.keys(item).length) continue;
        out[key] = clean(item);
      }
      return out;
    }
    return value;
  };
  const copy = structuredClone(doc || {});
  for (const name of SERVER_FIELDS) delete copy[name];
  if (!copy.condition || !String(copy.condition).trim()) delete copy.condition;
  if (copy.samplePayload === null) delete copy.samplePayload;
  return JSON.stringify(clean(copy));
}

/** What the API receives on save: the draft, with the version it was based on. */
export function documentToSave(doc, base) {
  const out = structuredClone(doc);
  for (const name of SERVER_FIELDS) delete out[name];
  if (!out.condition || !out.condition.trim()) delete out.condition;
  if (out.target && out.target.headers && !Object.keys(out.target.headers).length) {
    delete out.target.headers;
  }
  // An optional secret left empty means "none", not an empty password.
  if (out.source && out.source.credentials === '') delete out.source.credentials;
  if (out.target && out.target.smtpPassword === '') delete out.target.smtpPassword;
  if (base) out.version = base.version;
  return out;
}
