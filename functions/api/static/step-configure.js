// Step 1: name, source and target. The controls read the draft and ask it for named
// changes (draft.js); a change that alters which controls are shown (a type, a mode, a
// secret's Replace) is redrawn by the editor, and the step then puts the focus back.
// `ctx` is {draft, focus(key)}.

import { localMailCatcher } from './api.js';
import { CONTRACT, dig, isSecretRef } from './document.js';
import { copyable, el, field, replace, timeAgo, uid } from './dom.js';

function keys(path) {
  return path.split('.');
}

/** `[value, label]` pairs of a contract table whose entries have a label. */
function labelled(table) {
  return Object.entries(table).map(([value, entry]) => [value,
    typeof entry === 'string' ? entry : entry.label]);
}

function asNumber(text) {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  return /^-?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/** A labelled text (or number) input bound to `path` of the draft. */
function textField(ctx, label, path, options = {}) {
  const { hint, placeholder, optional, number, type = 'text', readOnly } = options;
  const current = dig(ctx.draft.doc, keys(path));
  const input = el('input', {
    type,
    value: current === undefined || current === null ? '' : String(current),
    placeholder,
    autocomplete: 'off',
    spellcheck: 'false',
    inputmode: number ? 'numeric' : null,
    readOnly,
  });
  input.addEventListener('input', () => {
    const text = input.value;
    let value = number ? asNumber(text) : text;
    if (optional && text === '') value = undefined;
    if (path === 'name') ctx.draft.setName(value);
    else ctx.draft.setSetting(path, value);
  });
  return field(optional ? `${label} (optional)` : label, input, { hint, path });
}

/** A write-only value: "set" with a Replace button when stored, else an input. */
function secretField(ctx, label, path, { multiline = false, optional = false, hint } = {}) {
  const current = dig(ctx.draft.doc, keys(path));
  const stored = dig(ctx.draft.base, keys(path));
  const title = optional ? `${label} (optional)` : label;
  if (isSecretRef(current)) {
    const labelId = uid('secret');
    return el('div', { class: 'field secret', 'data-path': path },
      el('span', { class: 'label', id: labelId }, title),
      el('div', { class: 'secret-row' },
        el('span', { class: 'badge set', 'aria-describedby': labelId }, 'set'),
        el('span', { class: 'muted' }, 'stored, never shown'),
        el('button', {
          type: 'button',
          class: 'quiet',
          'data-focus': `${path}:replace`,
          'aria-label': `Replace ${label}`,
          onclick: () => {
            ctx.draft.replaceSecret(path);
            ctx.focus(path);
          },
        }, 'Replace')));
  }
  const control = multiline
    ? el('textarea', { rows: 4, spellcheck: 'false', autocomplete: 'off', class: 'mono' })
    : el('input', { type: 'password', autocomplete: 'new-password', spellcheck: 'false' });
  control.value = typeof current === 'string' ? current : '';
  control.addEventListener('input', () => {
    ctx.draft.setSecret(path, control.value === '' && optional ? undefined : control.value);
  });
  const box = field(title, control, { hint, path });
  if (isSecretRef(stored)) {
    box.append(el('button', {
      type: 'button',
      class: 'quiet',
      'data-focus': `${path}:keep`,
      onclick: () => {
        ctx.draft.keepStoredSecret(path);
        ctx.focus(`${path}:replace`);
      },
    }, 'Keep the stored value'));
  }
  return box;
}

/** Radio buttons in a fieldset; `onChange(value)` when one is chosen. */
function choice(legend, options, current, onChange, path) {
  const name = uid('choice');
  return el('fieldset', { class: 'choice', 'data-path': path },
    el('legend', {}, legend),
    options.map(([value, label]) => {
      const input = el('input', {
        type: 'radio', name, value, checked: value === current, 'data-focus': `${path}:${value}`,
      });
      input.addEventListener('change', () => input.checked && onChange(value));
      return el('label', { class: 'radio' }, input, label);
    }));
}

/** A select bound to `path`; `onChange(value)` instead for a change that redraws the step. */
function select(ctx, label, path, options, { onChange, hint, current: shown } = {}) {
  const current = shown ?? dig(ctx.draft.doc, keys(path));
  const control = el('select', {},
    options.map(([value, text]) => el('option', { value, selected: value === (current ?? '') }, text)));
  control.addEventListener('change', () => {
    if (!onChange) {
      ctx.draft.setSetting(path, control.value);
      return;
    }
    onChange(control.value);
    ctx.focus(path);
  });
  return field(label, control, { hint, path });
}

function checkbox(ctx, label, path, fallback) {
  const current = dig(ctx.draft.doc, keys(path));
  const input = el('input', { type: 'checkbox', checked: current ?? fallback, 'data-path': path });
  input.addEventListener('change', () => ctx.draft.setSetting(path, input.checked));
  return el('label', { class: 'check' }, input, label);
}

// --- sources -----------------------------------------------------------------------------

function webhookSource(ctx) {
  const { base, doc } = ctx.draft;
  const url = base && base.source && base.source.type === 'webhook' ? base.webhookUrl : null;
  const scheme = (doc.source.signature && doc.source.signature.scheme) || '';
  return [
    url
      ? copyable('Webhook URL', url,
        { hint: 'Senders POST JSON here. Keep it private: it is the key.' })
      : el('p', { class: 'hint' }, 'The webhook URL is assigned when you first save.'),
    select(ctx, 'Signature check', 'source.signature.scheme', [
      ['', 'None: accept unsigned requests'], ...labelled(CONTRACT.signatureSchemes),
    ], { onChange: (value) => ctx.draft.setSignatureScheme(value) }),
    scheme ? secretField(ctx, 'Signing secret', 'source.signature.secret') : null,
    scheme === 'hmac-sha256'
      ? textField(ctx, 'Signature header', 'source.signature.header',
        { optional: true, placeholder: 'X-Hub-Signature-256' })
      : null,
  ];
}

/** What the platform knows of a saved Pub/Sub integration's subscription. */
function listenerState(base) {
  if (!base || !base.source || base.source.type !== 'pubsub') return null;
  return el('div', { class: 'listener', role: 'status' },
    el('p', {}, el('span', { class: ['badge', base.listenerActive ? 'set' : 'changed'] },
      base.listenerActive ? 'listening' : 'not listening'), ' ',
    base.listenerActive ? 'The subscription exists and is attached.'
      : 'The subscription is not attached (yet).'),
    base.lastPulledAt ? el('p', { class: 'hint' }, 'Last pulled ', timeAgo(base.lastPulledAt)) : null,
    base.listenerError ? el('p', { class: 'problem-text' }, `Last error: ${base.listenerError}`) : null);
}

function pubsubSource(ctx) {
  const { base, doc } = ctx.draft;
  const push = doc.source.mode === 'push';
  const endpoint = base && base.pushEndpoint;
  return [
    el('div', { class: 'grid-2' },
      textField(ctx, 'Project', 'source.projectId', { placeholder: 'my-project' }),
      textField(ctx, 'Topic', 'source.topic', { placeholder: 'orders' })),
    el('div', { class: 'grid-2' },
      textField(ctx, 'Subscription', 'source.subscription', {
        optional: true, hint: 'Left empty, the platform creates one for this integration.',
      }),
      push ? null : textField(ctx, 'Pull interval (seconds)', 'source.pullIntervalSeconds',
        { number: true, placeholder: '60' })),
    choice('Delivery mode', labelled(CONTRACT.pubsubModes),
      doc.source.mode || 'pull', (value) => {
        ctx.draft.setPubsubMode(value);
        ctx.focus(`source.mode:${value}`);
      }, 'source.mode'),
    push && endpoint ? copyable('Push endpoint', endpoint) : null,
    listenerState(base),
    secretField(ctx, 'Service account key (JSON)', 'source.credentials', {
      multiline: true,
      optional: true,
      hint: "Without one, the platform's own service account is used.",
    }),
  ];
}

// --- targets -----------------------------------------------------------------------------

function authFields(ctx) {
  const auth = ctx.draft.doc.target.auth;
  const type = auth ? auth.type : '';
  const parts = [select(ctx, 'Authentication', 'target.auth.type',
    [['', 'None'], ...labelled(CONTRACT.authTypes)],
    { onChange: (value) => ctx.draft.setAuthType(value) })];
  if (type === 'bearer') parts.push(secretField(ctx, 'Token', 'target.auth.token'));
  if (type === 'basic') {
    parts.push(el('div', { class: 'grid-2' },
      textField(ctx, 'Username', 'target.auth.username'),
      secretField(ctx, 'Password', 'target.auth.password')));
  }
  if (type === 'apiKey') {
    const inQuery = auth.queryParam !== undefined && auth.header === undefined;
    parts.push(el('div', { class: 'grid-2' },
      select(ctx, 'Send the key in', 'target.auth.place', [['header', 'a header'],
        ['queryParam', 'a query parameter']], {
        current: inQuery ? 'queryParam' : 'header',
        onChange: (value) => ctx.draft.setApiKeyPlace(value),
      }),
      inQuery ? textField(ctx, 'Query parameter', 'target.auth.queryParam')
        : textField(ctx, 'Header name', 'target.auth.header')));
    parts.push(secretField(ctx, 'Key', 'target.auth.value'));
  }
  if (type === 'oauth2') {
    parts.push(textField(ctx, 'Token URL', 'target.auth.tokenUrl', {
      type: 'url', placeholder: 'https://auth.example.com/oauth/token',
      hint: 'The client-credentials token is fetched here, kept until shortly before it '
        + 'expires, and sent as a bearer token.',
    }));
    parts.push(el('div', { class: 'grid-2' },
      textField(ctx, 'Client id', 'target.auth.clientId'),
      secretField(ctx, 'Client secret', 'target.auth.clientSecret')));
    parts.push(el('div', { class: 'grid-2' },
      textField(ctx, 'Scope', 'target.auth.scope', { optional: true }),
      textField(ctx, 'Audience', 'target.auth.audience', { optional: true })));
  }
  return parts;
}

/**
 * Standard Webhooks signatures on every request. The key is made by the platform on save
 * and shown once (step 4); a stored one shows `set`. Toggled in place: nothing to redraw.
 */
function signingField(ctx) {
  const path = 'target.signing';
  const current = dig(ctx.draft.doc, keys(path));
  const stored = dig(ctx.draft.base, keys(path));
  const box = el('input', { type: 'checkbox', checked: Boolean(current), 'data-path': path });
  box.addEventListener('change', () => {
    ctx.draft.setSetting(path, box.checked ? stored || { scheme: 'standard-webhooks' } : undefined);
  });
  const key = stored && isSecretRef(stored.secret);
  return el('fieldset', { class: 'signing' },
    el('legend', {}, 'Signing'),
    el('label', { class: 'check' }, box,
      'Sign every request (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature)'),
    el('p', { class: 'hint' }, key
      ? [el('span', { class: 'badge set' }, 'key set'), ' The whsec_ key was shown once, when it ',
        'was made; rotate it with POST /api/integrations/{id}/rotate_signing_secret/.']
      : 'The platform makes the whsec_ key when you save, and shows it once.'));
}

function headerRows(ctx) {
  // The rows as typed (a row without a name yet is not a header of the document).
  const rows = Object.entries(ctx.draft.doc.target.headers || {});
  const sync = () => {
    ctx.draft.setHeaders(Object.fromEntries(rows.filter(([name]) => name.trim() !== '')));
  };
  const list = el('div', { class: 'header-rows' });
  const draw = () => {
    list.replaceChildren(...rows.map((row, index) => {
      const name = el('input', { type: 'text', value: row[0], 'aria-label': `Header ${index + 1} name`,
        placeholder: 'X-Team', spellcheck: 'false', 'data-focus': `header:${index}:name` });
      const value = el('input', { type: 'text', value: row[1], 'aria-label': `Header ${index + 1} value`,
        spellcheck: 'false', 'data-path': `target.headers.${row[0]}` });
      name.addEventListener('input', () => { row[0] = name.value; sync(); });
      value.addEventListener('input', () => { row[1] = value.value; sync(); });
      return el('div', { class: 'header-row' }, name, value,
        el('button', { type: 'button', class: 'quiet', 'aria-label': `Remove header ${index + 1}`,
          onclick: () => { rows.splice(index, 1); sync(); draw(); } }, 'Remove'));
    }));
  };
  draw();
  return el('fieldset', { class: 'headers', 'data-path': 'target.headers' },
    el('legend', {}, 'Headers (optional)'),
    list,
    el('button', { type: 'button', class: 'quiet', onclick: () => {
      rows.push(['', '']);
      draw();
      list.querySelector('.header-row:last-child input').focus();
    } }, 'Add header'));
}

/**
 * The idempotency header: on by default (absent means `Idempotency-Key`), a name of one's
 * own, or off (null). Turning it off disables the name in place: nothing to redraw.
 */
function idempotencyField(ctx) {
  const path = 'target.idempotencyHeader';
  const current = dig(ctx.draft.doc, keys(path));
  const on = current !== null;
  const name = el('input', {
    type: 'text', value: typeof current === 'string' ? current : '', placeholder: 'Idempotency-Key',
    autocomplete: 'off', spellcheck: 'false', disabled: !on,
  });
  const box = el('input', { type: 'checkbox', checked: on, 'data-focus': `${path}:on` });
  const chosen = () => (name.value.trim() === '' ? undefined : name.value);
  box.addEventListener('change', () => {
    name.disabled = !box.checked;
    ctx.draft.setSetting(path, box.checked ? chosen() : null);
  });
  name.addEventListener('input', () => ctx.draft.setSetting(path, chosen()));
  return el('fieldset', { class: 'idempotency' },
    el('legend', {}, 'Idempotency key'),
    el('label', { class: 'check' }, box, 'Send the run id in a header'),
    field('Idempotency header', name, {
      path,
      hint: 'The same on every retry of a message, so that the receiver can drop duplicates. '
        + 'Empty: Idempotency-Key.',
    }));
}

/**
 * The receiver's JSON Schema (target.schema), typed as JSON: set once it parses as an
 * object, removed when emptied; until then the draft keeps the last schema that parsed.
 */
function schemaField(ctx) {
  const path = 'target.schema';
  const current = dig(ctx.draft.doc, keys(path));
  const control = el('textarea', { rows: 5, spellcheck: 'false', autocomplete: 'off', class: 'mono',
    placeholder: '{"type": "object", "required": ["amount"]}' });
  control.value = current ? JSON.stringify(current, null, 2) : '';
  const status = el('p', { class: 'problem-text', role: 'status' });
  control.addEventListener('input', () => {
    const text = control.value.trim();
    status.textContent = '';
    if (!text) {
      ctx.draft.setSetting(path, undefined);
      return;
    }
    try {
      const value = JSON.parse(text);
      if (!value || typeof value !== 'object' || Array.isArray(value)) {
        status.textContent = 'The schema must be a JSON object.';
        return;
      }
      ctx.draft.setSetting(path, value);
    } catch (err) {
      status.textContent = `Not JSON yet: ${err.message}`;
    }
  });
  const box = field("Receiver's JSON Schema (optional)", control, {
    path,
    hint: 'JSON Schema 2020-12 of what the receiver accepts. An output that breaks it is not '
      + 'sent (the run is an error); the preview shows where. Only references inside it (#/…).',
  });
  box.append(status);
  return box;
}

function httpTarget(ctx) {
  return [
    el('div', { class: 'grid-method' },
      select(ctx, 'Method', 'target.method', CONTRACT.httpMethods.map((m) => [m, m])),
      textField(ctx, 'URL', 'target.url', { placeholder: 'https://hooks.example.com/…', type: 'url' })),
    el('p', { class: 'hint' },
      'POST, PUT and PATCH send the mapped output as a JSON body; GET sends its top-level fields as query parameters. '
        + 'The path, the query and header values may hold {{path}}, filled from the mapped output (each URL value '
        + 'encoded as one segment or value); the host may not.'),
    authFields(ctx),
    headerRows(ctx),
    textField(ctx, 'Timeout (seconds)', 'target.timeoutSeconds',
      { number: true, optional: true, placeholder: '30' }),
    idempotencyField(ctx),
    signingField(ctx),
    schemaField(ctx),
  ];
}

/** In the local stack only: a button that points the target at the local mail catcher. */
function localCatcherOffer(ctx) {
  const slot = el('div', { class: 'local-catcher' });
  localMailCatcher().then((settings) => {
    if (!settings) return;
    const { smtpServer, smtpPort } = settings;
    replace(slot, el('p', { class: 'hint' },
      el('button', { type: 'button', class: 'quiet', 'data-focus': 'target.localCatcher',
        onclick: () => ctx.draft.useTargetSettings(settings) }, 'Use the local mail catcher'),
      ` ${smtpServer}:${smtpPort}, STARTTLS off (it speaks plain SMTP); what it receives `
        + 'shows at /_local/mail.'));
  });
  return slot;
}

function emailTarget(ctx) {
  return [
    localCatcherOffer(ctx),
    el('div', { class: 'grid-host-port' },
      textField(ctx, 'SMTP server', 'target.smtpServer', { placeholder: 'smtp.example.com' }),
      textField(ctx, 'Port', 'target.smtpPort', { number: true, placeholder: '587' })),
    el('div', { class: 'grid-2' },
      textField(ctx, 'SMTP user', 'target.smtpUsername', { optional: true }),
      secretField(ctx, 'SMTP password', 'target.smtpPassword', { optional: true })),
    el('div', { class: 'checks' },
      checkbox(ctx, 'STARTTLS (useTLS)', 'target.useTLS', true),
      checkbox(ctx, 'Implicit TLS (useSSL)', 'target.useSSL', false)),
    el('p', { class: 'hint' },
      'STARTTLS is on by default: the server must offer it (usually port 587), or the check and '
        + 'every send fail naming useTLS. Turn it off for a server without TLS, such as the '
        + 'local mail catcher; implicit TLS is usually port 465.'),
    textField(ctx, 'From', 'target.fromEmail', { placeholder: 'alerts@example.com' }),
    textField(ctx, 'To', 'target.toEmail', {
      placeholder: '{{customer.email}}',
      hint: '{{path}} is filled from the mapped output (then the incoming payload).',
    }),
    textField(ctx, 'Subject', 'target.subject', { placeholder: 'Order {{orderId}} paid' }),
    bodyField(ctx),
    select(ctx, 'Body type', 'target.bodyType', [['text', 'Plain text'], ['html', 'HTML']], {
      current: dig(ctx.draft.doc, keys('target.bodyType')) || 'text',
      hint: 'HTML needs a body template; each value filled into it is HTML-escaped.',
    }),
    schemaField(ctx),
  ];
}

/**
 * A fan-out's targets (docs/delivery.md, "Fan-out"): each with its name and type, and the
 * rest of its settings (URL, auth, headers, its own condition and mappings) as JSON. A
 * stored secret shows as {"secret": ..., "set": true}: left so, it is kept.
 */
function fanoutTargets(ctx) {
  const { targets } = ctx.draft.doc;
  const items = targets.map((target, i) => {
    const { name, type, ...rest } = target;
    const nameInput = el('input', { type: 'text', value: name || '', autocomplete: 'off',
      spellcheck: 'false', placeholder: `target-${i + 1}`, 'data-path': `targets[${i}].name` });
    nameInput.addEventListener('input', () => ctx.draft.setFanoutTarget(i,
      { ...ctx.draft.doc.targets[i], name: nameInput.value || undefined }));
    const settings = el('textarea', { rows: 8, spellcheck: 'false', class: 'mono',
      'data-path': `targets[${i}]` }, JSON.stringify(rest, null, 2));
    const problem = el('p', { class: 'problem-text', role: 'status' });
    settings.addEventListener('input', () => {
      let parsed;
      try {
        parsed = JSON.parse(settings.value);
      } catch (err) {
        problem.textContent = `Not JSON yet: ${err.message}`;
        return;
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        problem.textContent = 'The settings are a JSON object.';
        return;
      }
      problem.textContent = '';
      const { name: kept, type: kind } = ctx.draft.doc.targets[i];
      ctx.draft.setFanoutTarget(i, { ...parsed, name: kept, type: kind });
    });
    return el('fieldset', { class: 'fanout-target', 'data-target-index': i },
      el('legend', {}, `Target ${i + 1}`),
      el('div', { class: 'grid-2' },
        field('Name', nameInput, { path: `targets[${i}].name`,
          hint: 'Names its delivery on each run; keep it stable.' }),
        choice('Type', labelled(CONTRACT.targetTypes), type, (value) => {
          ctx.draft.setFanoutTargetType(i, value);
          ctx.focus(`targets[${i}].type:${value}`);
        }, `targets[${i}].type`)),
      field('Settings (JSON)', settings, { path: `targets[${i}]`,
        hint: 'url, method, auth, headers… for HTTP; smtpServer, toEmail… for email; '
          + 'optionally its own condition and mappings (else the integration\'s).' }),
      problem,
      el('button', { type: 'button', class: 'quiet', 'data-remove-target': i,
        onclick: () => ctx.draft.removeTarget(i) }, `Remove target ${i + 1}`));
  });
  return [
    el('p', { class: 'hint' }, 'Each target is sent, retried and recorded on its own; one '
      + 'that succeeded is never sent again because another failed.'),
    ...items,
    targets.length < MAX_TARGETS ? addTargetButton(ctx) : null,
  ];
}

const MAX_TARGETS = 10; // docs/limits.md

function addTargetButton(ctx) {
  return el('button', { type: 'button', class: 'quiet', id: 'add-target',
    onclick: () => ctx.draft.addTarget() }, 'Add a target');
}

/** The email body template; empty: the mapped output's own text (see docs/targets.md). */
function bodyField(ctx) {
  const path = 'target.body';
  const current = dig(ctx.draft.doc, keys(path));
  const area = el('textarea', { rows: 5, spellcheck: 'false', placeholder: 'Hello {{name}},\n…' });
  area.value = typeof current === 'string' ? current : '';
  area.addEventListener('input', () => {
    ctx.draft.setSetting(path, area.value === '' ? undefined : area.value);
  });
  return field('Body (optional)', area, {
    path,
    hint: '{{path}} is filled as in To. Empty: a string output as it is, an output with a string '
      + 'body field that field, anything else as pretty JSON.',
  });
}

/**
 * A group of numbers set together (target.rateLimit, retry, circuitBreaker): the group is
 * set once any of its fields holds a value, and removed when all are emptied.
 */
function numberGroup(ctx, path, fields) {
  const current = dig(ctx.draft.doc, keys(path)) || {};
  const inputs = fields.map(([name, label, placeholder, hint]) => {
    const input = el('input', {
      type: 'text', inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false', placeholder,
      value: current[name] === undefined || current[name] === null ? '' : String(current[name]),
    });
    input.dataset.name = name;
    return field(label, input, { hint, path: `${path}.${name}` });
  });
  const sync = () => {
    const value = {};
    for (const box of inputs) {
      const input = box.querySelector('input');
      const number = asNumber(input.value);
      if (number !== undefined) value[input.dataset.name] = number;
    }
    ctx.draft.setDeliveryGroup(path, Object.keys(value).length ? value : undefined);
  };
  for (const box of inputs) box.querySelector('input').addEventListener('input', sync);
  return inputs;
}

/** Pace, retries and the circuit breaker (docs/delivery.md). */
function deliverySettings(ctx) {
  // A fan-out target's rateLimit is set in its own JSON in the target list.
  const { target } = ctx.draft.doc;
  const paced = target && target.type === 'http'
    ? el('fieldset', { class: 'rate-limit' }, el('legend', {}, 'Rate limit (optional)'),
      numberGroup(ctx, 'target.rateLimit', [
        ['perSecond', 'Requests a second', 'none', 'At most this many in any second (up to 500); '
          + 'more wait in the target\'s queue, none is dropped.'],
        ['maxConcurrent', 'At once', '5000', 'At most this many requests in flight.'],
      ]))
    : null;
  return el('section', { class: 'card', 'aria-labelledby': 'delivery-title' },
    el('h2', { id: 'delivery-title' }, 'Delivery'),
    paced,
    el('fieldset', { class: 'retry' }, el('legend', {}, 'Retries (optional)'),
      numberGroup(ctx, 'retry', [
        ['maxAttempts', 'Attempts in all', '10', 'Then the run is dead_lettered.'],
        ['initialBackoffSeconds', 'First wait (seconds)', '10', 'Doubles after each failure.'],
        ['maxBackoffSeconds', 'Longest wait (seconds)', '600', 'Retry-After is honoured up to this.'],
        ['maxAgeSeconds', 'Give up after (seconds)', '604800', 'Counted from when the event arrived.'],
      ])),
    el('fieldset', { class: 'circuit' }, el('legend', {}, 'Circuit breaker (optional)'),
      numberGroup(ctx, 'circuitBreaker', [
        ['consecutiveFailures', 'Pause after failures in a row', 'off',
          'Delivery pauses itself (by circuit) until resumed; new runs are held.'],
      ])));
}

/**
 * Where operational events go (a run dead-lettered, delivery paused or resumed): a signed
 * POST, an email, or both; at most one of each kind a minute. Blank fields mean none.
 */
function notifyCard(ctx) {
  const stored = dig(ctx.draft.base, ['notify', 'secret']);
  return el('section', { class: 'card', 'aria-labelledby': 'notify-title' },
    el('h2', { id: 'notify-title' }, 'Notify'),
    el('p', { class: 'hint' },
      'Operational events: a run dead-lettered, delivery paused or resumed. At most one of '
      + 'each kind a minute; the next one counts those held back.'),
    el('div', { class: 'grid-2' },
      textField(ctx, 'Notify URL', 'notify.url',
        { optional: true, type: 'url', placeholder: 'https://ops.example.com/hooks' }),
      textField(ctx, 'Notify email', 'notify.email',
        { optional: true, type: 'email', placeholder: 'ops@example.com' })),
    el('p', { class: 'hint' }, isSecretRef(stored)
      ? [el('span', { class: 'badge set' }, 'key set'),
        ' POSTs are signed with Standard Webhooks headers; the whsec_ key was shown once.']
      : 'POSTs are signed with Standard Webhooks headers: the target\'s signing key when it '
        + 'signs, else a key the platform makes on save and shows once.'));
}

/** The whole step, built from the draft. */
export function configureStep(ctx) {
  const { doc } = ctx.draft;
  const source = el('section', { class: 'card', 'aria-labelledby': 'source-title' },
    el('h2', { id: 'source-title' }, 'Source'),
    choice('Messages arrive by', labelled(CONTRACT.sourceTypes), doc.source.type, (value) => {
      ctx.draft.setSourceType(value);
      ctx.focus(`source.type:${value}`);
    }, 'source.type'),
    doc.source.type === 'pubsub' ? pubsubSource(ctx) : webhookSource(ctx));
  const target = doc.targets
    ? el('section', { class: 'card', 'aria-labelledby': 'target-title' },
      el('h2', { id: 'target-title' }, 'Targets'), fanoutTargets(ctx))
    : el('section', { class: 'card', 'aria-labelledby': 'target-title' },
      el('h2', { id: 'target-title' }, 'Target'),
      choice('Send the result as', labelled(CONTRACT.targetTypes), doc.target.type, (value) => {
        ctx.draft.setTargetType(value);
        ctx.focus(`target.type:${value}`);
      }, 'target.type'),
      doc.target.type === 'email' ? emailTarget(ctx) : httpTarget(ctx),
      addTargetButton(ctx));
  return el('div', { class: 'configure' },
    el('section', { class: 'card', 'aria-labelledby': 'about-title' },
      el('h2', { id: 'about-title' }, 'Integration'),
      textField(ctx, 'Name', 'name', { placeholder: 'Payments to Slack' }),
      textField(ctx, 'Deliver in order per', 'orderingKey', {
        optional: true,
        placeholder: 'data.customer.id',
        hint: 'A path into the payload: events with the same value there are sent in the '
          + 'order they arrived, and a failing one holds back the later ones of its value.',
      })),
    el('div', { class: 'grid-2 align-start' }, source, target),
    deliverySettings(ctx),
    notifyCard(ctx));
}
