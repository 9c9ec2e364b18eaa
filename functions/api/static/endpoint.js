// Where a saved integration receives events, shown after Save: its webhook URL (or Pub/Sub
// push endpoint) with a Copy button, and a `curl` line that posts the sample payload there.

import { copyable, el } from './dom.js';

/** `text` as one POSIX shell word in single quotes (a quote inside becomes '\''). */
export function shellQuote(text) {
  return `'${String(text).replace(/'/g, "'\\''")}'`;
}

/** Base64 of the UTF-8 bytes of `text` (what a Pub/Sub message's `data` holds). */
function base64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The body a Pub/Sub push request carries for one message holding `payload` as JSON. */
export function pushEnvelope(payload, messageId) {
  return {
    message: { data: base64(JSON.stringify(payload)), messageId, attributes: {} },
    subscription: 'projects/local/subscriptions/curl',
  };
}

/** A curl command that POSTs `body` as JSON to `url`, one option a line. */
export function curlLine(url, body) {
  return [
    `curl -sS -X POST ${shellQuote(url)}`,
    "  -H 'Content-Type: application/json'",
    `  -d ${shellQuote(JSON.stringify(body))}`,
  ].join(' \\\n');
}

/**
 * The "send events here" block for a saved integration (`base`, as the API returned it), or
 * null when it has no address of its own (a pulled Pub/Sub subscription).
 */
export function endpointBlock(base) {
  if (!base || !base.source) return null;
  const sample = base.samplePayload ?? {};
  const sampleNote = base.samplePayload === undefined || base.samplePayload === null
    ? ' It sends {} until you save a sample payload in step 2.' : ' It sends the saved sample payload.';
  if (base.source.type === 'webhook' && base.webhookUrl) {
    const signed = base.source.signature && base.source.signature.scheme;
    return el('div', { class: 'endpoint', 'data-endpoint': 'webhook' },
      el('h3', {}, 'Send events to it'),
      copyable('URL to send events to', base.webhookUrl, {
        name: 'endpoint',
        hint: 'Senders POST JSON here. Keep it private: it is the key.',
      }),
      copyable('curl command', curlLine(base.webhookUrl, sample), {
        name: 'curl',
        multiline: true,
        hint: `Run it in a terminal to send one event.${sampleNote}${signed
          ? ' This integration checks signatures: without one the request is refused (401).'
          : ''}`,
      }));
  }
  if (base.source.type === 'pubsub' && base.source.mode === 'push' && base.pushEndpoint) {
    const envelope = pushEnvelope(sample, `curl-${Date.now()}`);
    return el('div', { class: 'endpoint', 'data-endpoint': 'push' },
      el('h3', {}, 'Pub/Sub pushes to it'),
      copyable('URL to send events to', base.pushEndpoint, {
        name: 'endpoint',
        hint: "The push subscription's endpoint. Keep it private.",
      }),
      copyable('curl command', curlLine(base.pushEndpoint, envelope), {
        name: 'curl',
        multiline: true,
        hint: 'A push request as Pub/Sub sends it, the sample base64-encoded in message.data; '
          + 'messageId is the idempotency key, so change it to send again. Where the endpoint '
          + "checks Pub/Sub's OIDC token (PUSH_VERIFY_OIDC, on in the cloud), a request "
          + `without one is refused.${sampleNote}`,
      }));
  }
  return null;
}
