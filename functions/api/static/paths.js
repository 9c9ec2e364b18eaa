// Mapping paths as docs/mapping.md defines them: `a.b`, `items[0]`, `items[*]`, `x["dotted.key"]`.

const PLAIN_KEY = /^[^.[\]]+$/;

/** `parent` followed by object key `key`, quoted when it holds `.`, `[` or `]` (or is empty). */
export function childKey(parent, key) {
  if (PLAIN_KEY.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** `parent` followed by an index, or `[*]` for `index === '*'`. */
export function childIndex(parent, index) {
  return `${parent}[${index}]`;
}

/** The steps of a path: strings for keys, numbers for indexes, '*' for every element. */
export function steps(path) {
  const out = [];
  let i = 0;
  while (i < path.length) {
    if (path[i] === '.') {
      i += 1;
    } else if (path[i] === '[') {
      if (path[i + 1] === '"') {
        let j = i + 2;
        while (j < path.length && path[j] !== '"') j += path[j] === '\\' ? 2 : 1;
        try {
          out.push(JSON.parse(path.slice(i + 1, j + 1)));
        } catch {
          out.push(path.slice(i + 2, j));
        }
        i = j + 2;
      } else {
        const end = path.indexOf(']', i);
        const inner = path.slice(i + 1, end < 0 ? path.length : end);
        out.push(inner === '*' ? '*' : Number(inner));
        i = end < 0 ? path.length : end + 1;
      }
    } else {
      let j = i;
      while (j < path.length && path[j] !== '.' && path[j] !== '[') j += 1;
      out.push(path.slice(i, j));
      i = j;
    }
  }
  return out;
}

/** A target name suggested by a source path: its last key (`customer.email` -> `email`). */
export function suggestedTarget(source) {
  const keys = steps(source).filter((step) => typeof step === 'string' && step !== '*');
  const last = keys.at(-1);
  if (last === undefined) return 'value';
  return childKey('', last);
}
