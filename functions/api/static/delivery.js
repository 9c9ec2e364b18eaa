// Delivery shaped by the receiver, in the UI: whether an integration's delivery is paused,
// why and by whom (a user, or the circuit breaker), how many runs it holds, and the Pause /
// Resume buttons (POST pause_delivery/ and resume_delivery/; docs/delivery.md). Used by the
// integrations list and the editor's header.

import { api } from './api.js';
import { can, REASON } from './signin.js';
import { el, notify, replace } from './dom.js';

/** One line: "Delivering" or "Paused by …: reason · n held", for `doc.delivery`. */
export function deliveryText(delivery) {
  if (!delivery || delivery.state !== 'paused') {
    const failures = delivery && delivery.consecutiveFailures;
    return failures ? `Delivering (${failures} failed in a row)` : 'Delivering';
  }
  const who = delivery.by === 'circuit' ? 'Circuit open' : 'Paused';
  const why = delivery.reason ? `: ${delivery.reason}` : '';
  return `${who}${why} · ${delivery.held || 0} held`;
}

/**
 * The delivery state and its button for `doc`; `onChange(updated)` after a pause or resume
 * (the answer is the integration as it is now).
 */
export function deliveryControls(doc, onChange = () => {}) {
  const box = el('span', { class: 'delivery', 'data-delivery': doc.id });
  const draw = (delivery) => {
    const paused = Boolean(delivery && delivery.state === 'paused');
    const badge = el('span', {
      class: ['badge', paused ? 'changed' : 'set', 'delivery-state'],
      title: paused && delivery.since ? `since ${delivery.since}` : null,
    }, deliveryText(delivery));
    const button = el('button', {
      type: 'button', class: 'quiet delivery-toggle',
      'aria-label': `${paused ? 'Resume' : 'Pause'} delivery: ${doc.name}`,
      disabled: !can('editor'), title: can('editor') ? null : REASON.editor,
    }, paused ? 'Resume delivery' : 'Pause delivery');
    const reason = paused ? null : el('input', {
      type: 'text', class: 'delivery-reason', placeholder: 'Reason (optional)',
      'aria-label': `Why pause delivery of ${doc.name}`, maxlength: '500',
      disabled: !can('editor'),
    });
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const updated = paused
          ? await api.resumeDelivery(doc.id)
          : await api.pauseDelivery(doc.id, reason.value.trim() || null);
        doc.delivery = updated.delivery;
        draw(updated.delivery);
        notify(`${doc.name}: delivery ${paused ? 'resumed' : 'paused'}.`);
        onChange(updated);
      } catch (err) {
        notify(err.message, 'error');
        button.disabled = false;
      }
    });
    replace(box, badge, ' ', reason, button);
  };
  draw(doc.delivery);
  return box;
}
