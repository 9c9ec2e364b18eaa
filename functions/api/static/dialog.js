// A modal confirmation built on <dialog>: Escape cancels, focus starts on Cancel.

import { el } from './dom.js';

/** Resolves true when the user confirms. */
export function confirmDialog({ title, message, confirm = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const cancelButton = el('button', { type: 'button', class: 'quiet', autofocus: true }, 'Cancel');
    const okButton = el('button', { type: 'button', class: danger ? 'danger' : 'primary' }, confirm);
    const dialog = el('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title',
      'aria-describedby': 'dialog-text' },
    el('h2', { id: 'dialog-title' }, title),
    el('p', { id: 'dialog-text' }, message),
    el('div', { class: 'buttons end' }, cancelButton, okButton));
    const previous = document.activeElement;
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      if (previous && previous.isConnected) previous.focus();
      resolve(answer);
    };
    cancelButton.addEventListener('click', () => close(false));
    okButton.addEventListener('click', () => close(true));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancelButton.focus();
  });
}
