// Problems from Validate and from the preview, shown next to the field their JSON path names.
// Every field carries `data-path` (`target.url`, `mappings[2].transforms[0].code`); a problem
// goes to the deepest element whose path is the problem's path or a parent of it.

import { el, uid } from './dom.js';

/** `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> ''. */
export function parentPath(path) {
  const match = /^(.*?)(\.[^.[\]]+|\[[^\]]*\])$/.exec(path);
  return match ? match[1] : '';
}

/** The element showing `path` (or its nearest parent) inside `root`, or null. */
export function findField(root, path) {
  for (let at = path; at; at = parentPath(at)) {
    const found = root.querySelector(`[data-path="${CSS.escape(at)}"]`);
    if (found) return { node: found, exact: at === path };
  }
  return null;
}

/** Which editor step holds a problem at `path`. */
export function stepOf(path) {
  const head = (path || '').split(/[.[]/)[0];
  if (['name', 'source', 'target', 'active'].includes(head)) return 'configure';
  if (['condition', 'mappings', 'jsonata', 'samplePayload'].includes(head)) return 'map';
  if (head === 'tests') return 'test';
  return 'save';
}

/** Remove every problem note and invalid mark under `root`. */
export function clearProblems(root) {
  for (const note of root.querySelectorAll('.problem[data-from]')) note.remove();
  for (const node of root.querySelectorAll('[aria-invalid="true"]')) {
    node.removeAttribute('aria-invalid');
    const kept = node.dataset.describedby;
    if (kept) node.setAttribute('aria-describedby', kept);
    else node.removeAttribute('aria-describedby');
  }
  for (const node of root.querySelectorAll('.has-problem')) node.classList.remove('has-problem');
}

/** Show `problems` ({path, message}) at their fields; returns those with no field shown. */
export function showProblems(root, problems, from) {
  const unplaced = [];
  for (const problem of problems) {
    const hit = problem.path ? findField(root, problem.path) : null;
    if (!hit) {
      unplaced.push(problem);
      continue;
    }
    const where = hit.exact ? '' : `${problem.path}: `;
    const note = el('p', { class: 'problem', id: uid('problem'), dataset: { from } },
      where + problem.message);
    const node = hit.node;
    if (node.matches('input, select, textarea')) {
      if (!node.hasAttribute('aria-invalid')) {
        node.dataset.describedby = node.getAttribute('aria-describedby') || '';
      }
      node.setAttribute('aria-invalid', 'true');
      const ids = [node.getAttribute('aria-describedby'), note.id].filter(Boolean).join(' ');
      node.setAttribute('aria-describedby', ids);
      (node.closest('.field') || node.parentElement).append(note);
    } else {
      node.classList.add('has-problem');
      (node.querySelector(':scope > .problem-slot') || node).append(note);
    }
  }
  return unplaced;
}
