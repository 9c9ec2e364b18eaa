// Unsaved editor state in localStorage, so that a reload loses nothing until Save or Discard.
// Secret values typed into a draft are never written here: a draft keeps the stored
// reference (unchanged) or nothing, and the editor asks for the value again.

import { dig, isSecretRef, secretPlaces } from './document.js';

const PREFIX = 'mapper.draft.';

/** A copy of `doc` without any secret value typed by the user, and the paths dropped. */
export function withoutTypedSecrets(doc, base) {
  const copy = structuredClone(doc);
  const dropped = [];
  for (const path of secretPlaces(copy)) {
    const value = dig(copy, path);
    if (value === undefined || value === null || isSecretRef(value) || value === '') continue;
    const parent = dig(copy, path.slice(0, -1));
    const stored = dig(base, path);
    parent[path.at(-1)] = isSecretRef(stored) ? stored : '';
    dropped.push(path.join('.'));
  }
  return { doc: copy, dropped };
}

/** The draft stored under `key`, or null. */
export function loadDraft(key) {
  try {
    const raw = localStorage.getItem(PREFIX + key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

/** Keep `draft` ({doc, sampleText, baseVersion, ...}) under `key`, typed secrets left out. */
export function saveDraft(key, draft, base) {
  const { doc, dropped } = withoutTypedSecrets(draft.doc, base);
  const kept = { ...draft, doc, droppedSecrets: dropped, savedAt: new Date().toISOString() };
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(kept));
  } catch {
    // Storage full or disabled: the draft lives in this page only.
  }
}

export function discardDraft(key) {
  localStorage.removeItem(PREFIX + key);
}

/** Every stored draft: `{key, name, savedAt, isNew}`, newest first. */
export function listDrafts() {
  const found = [];
  for (let i = 0; i < localStorage.length; i += 1) {
    const name = localStorage.key(i);
    if (!name || !name.startsWith(PREFIX)) continue;
    const key = name.slice(PREFIX.length);
    const draft = loadDraft(key);
    if (!draft) continue;
    found.push({
      key,
      name: (draft.doc && draft.doc.name) || 'Untitled integration',
      savedAt: draft.savedAt,
      isNew: key.startsWith('new-'),
    });
  }
  return found.sort((a, b) => String(b.savedAt).localeCompare(String(a.savedAt)));
}

/** A key for a new, never saved integration. */
export function newDraftKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `new-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
