// The integration document as the editor holds it: the UI's copy of the contract, a blank
// document, a tidy copy, a fingerprint to tell whether anything changed, and the body sent
// on save.

import { TRANSFORMS } from './schema.js';

/**
 * What the UI knows of the integration document's JSON Schema (docs/integration.md):
 * field lists, the fresh value of each source, target and auth type, and the choices of
 * each enum. Kept as one JSON literal so that tests/unit/test_ui_schema.py can read it
 * without a browser and hold it to `python -m mapper schema`. The transforms are not here:
 * schema.js reads them, with their options, from the API's schema.
 */
export const CONTRACT = {
  "documentFields": ["name", "active", "source", "condition", "mappings", "jsonata", "target",
    "targets", "sandbox", "retry", "circuitBreaker", "notify", "samplePayload", "searchKeys",
    "tests", "orderingKey"],
  "serverFields": ["id", "version", "webhookPath", "webhookUrl", "pushPath", "pushEndpoint",
    "listenerActive", "managedSubscription", "lastPulledAt", "listenerError",
    "signatureFailures", "newSigningSecret", "newNotifySecret", "delivery", "createdAt",
    "updatedAt"],
  "secretPaths": [
    ["source", "signature", "secret"],
    ["source", "credentials"],
    ["target", "auth", "token"],
    ["target", "auth", "password"],
    ["target", "auth", "value"],
    ["target", "auth", "clientSecret"],
    ["target", "signing", "secret"],
    ["target", "signing", "previousSecret"],
    ["target", "smtpPassword"],
    ["targets", "*", "auth", "token"],
    ["targets", "*", "auth", "password"],
    ["targets", "*", "auth", "value"],
    ["targets", "*", "auth", "clientSecret"],
    ["targets", "*", "signing", "secret"],
    ["targets", "*", "signing", "previousSecret"],
    ["targets", "*", "smtpPassword"],
    ["notify", "secret"]
  ],
  "mappingFields": ["target", "source", "transforms"],
  "sourceTypes": {
    "webhook": { "label": "Webhook", "fresh": { "type": "webhook" } },
    "pubsub": { "label": "Google Pub/Sub", "fresh": { "type": "pubsub", "projectId": "",
      "topic": "", "mode": "pull", "pullIntervalSeconds": 60 } }
  },
  "signatureSchemes": {
    "standard-webhooks": "Standard Webhooks (webhook-signature)",
    "hmac-sha256": "HMAC-SHA256 (X-Hub-Signature-256, Stripe-Signature)"
  },
  "pubsubModes": { "pull": "Pull on a schedule", "push": "Push to this platform" },
  "targetTypes": {
    "http": { "label": "HTTP request", "fresh": { "type": "http", "method": "POST", "url": "",
      "headers": {} } },
    "email": { "label": "Email (SMTP)", "fresh": { "type": "email", "smtpServer": "",
      "smtpPort": 587, "fromEmail": "", "toEmail": "", "subject": "", "useTLS": true,
      "useSSL": false } }
  },
  "httpMethods": ["POST", "PUT", "PATCH", "GET", "DELETE"],
  "authTypes": {
    "bearer": { "label": "Bearer token", "fresh": { "type": "bearer", "token": "" } },
    "basic": { "label": "Basic (user and password)", "fresh": { "type": "basic", "username": "",
      "password": "" } },
    "apiKey": { "label": "API key", "fresh": { "type": "apiKey", "header": "X-Api-Key",
      "value": "" } },
    "oauth2": { "label": "OAuth2 client credentials", "fresh": { "type": "oauth2", "tokenUrl": "",
      "clientId": "", "clientSecret": "" } }
  }
};

/** Fields the server owns (docs/integration.md); never compared, never copied. */
export const SERVER_FIELDS = CONTRACT.serverFields;

/** Where each write-only value sits in an integration document (docs/integration.md). */
export const SECRET_PATHS = CONTRACT.secretPaths;

/**
 * Where write-only values sit in `doc`: SECRET_PATHS with each `*` (a fan-out's `targets`)
 * expanded to the indexes of the list there, e.g. ["targets", 1, "auth", "token"].
 */
export function secretPlaces(doc) {
  const expand = (node, path) => {
    if (!path.length) return [[]];
    const [head, ...rest] = path;
    if (head === '*') {
      return Array.isArray(node)
        ? node.flatMap((item, i) => expand(item, rest).map((tail) => [i, ...tail])) : [];
    }
    if (!node || typeof node !== 'object' || !(head in node)) return [];
    return expand(node[head], rest).map((tail) => [head, ...tail]);
  };
  return SECRET_PATHS.flatMap((path) => expand(doc, path));
}

/** The value at `path` (an array of keys, as in SECRET_PATHS) in `doc`, or undefined. */
export function dig(doc, path) {
  return path.reduce((node, key) => (node && typeof node === 'object' ? node[key] : undefined), doc);
}

/** True for the stored form of a secret: `{"secret": name, "set": true}`. */
export function isSecretRef(value) {
  return Boolean(value) && typeof value === 'object' && typeof value.secret === 'string';
}

/** A fresh copy of the contract's starting value for a source, target, auth or transform. */
export function fresh(kind, type) {
  return structuredClone((kind === 'transforms' ? TRANSFORMS : CONTRACT[kind])[type].fresh);
}

export function blankDocument() {
  return {
    name: '',
    active: true,
    source: fresh('sourceTypes', 'webhook'),
    condition: '',
    mappings: [],
    target: fresh('targetTypes', 'http'),
  };
}

/** A copy with every list and object the editor's controls expect. */
export function normalised(doc) {
  const out = structuredClone(doc);
  out.mappings ||= [];
  for (const mapping of out.mappings) mapping.transforms ||= [];
  out.source ||= { type: 'webhook' };
  if (!Array.isArray(out.targets)) {  // a fan-out's targets are edited as JSON (step-configure)
    out.target ||= { type: 'http', method: 'POST', url: '' };
    if (out.target.type === 'http') out.target.headers ||= {};
  }
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
  if (typeof copy.jsonata === 'string' && !copy.jsonata.trim()) delete copy.jsonata;
  if (copy.samplePayload === null) delete copy.samplePayload;
  return JSON.stringify(clean(copy));
}

/** What the API receives on save: the draft, with the version it was based on. */
export function documentToSave(doc, base) {
  const out = structuredClone(doc);
  for (const name of SERVER_FIELDS) delete out[name];
  if (!out.condition || !out.condition.trim()) delete out.condition;
  // JSONata builds the whole output: the output fields set aside while it is on are not sent.
  if (typeof out.jsonata === 'string' && out.jsonata.trim()) out.mappings = [];
  else delete out.jsonata;
  if (out.target && out.target.headers && !Object.keys(out.target.headers).length) {
    delete out.target.headers;
  }
  // An optional secret left empty means "none", not an empty password.
  if (out.source && out.source.credentials === '') delete out.source.credentials;
  if (out.target && out.target.smtpPassword === '') delete out.target.smtpPassword;
  // A signing key left empty is made by the platform (and shown once, in the answer).
  const signing = out.target && out.target.signing;
  if (signing && !signing.secret) delete signing.secret;
  if (signing && signing.previousSecret === '') delete signing.previousSecret;
  // Notify: blank fields mean none, no field at all means no notifications.
  if (out.notify) {
    for (const name of ['url', 'email', 'secret']) if (!out.notify[name]) delete out.notify[name];
    if (!out.notify.url && !out.notify.email) delete out.notify;
  }
  if (base) out.version = base.version;
  return out;
}
