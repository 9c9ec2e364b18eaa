// The transforms the editor offers, read from the API's own schema (GET /api/openapi.json,
// public): every transform of the Mapping schema's union, in its order, with its title as
// the menu entry and each option's control drawn from its JSON Schema. A transform added to
// the engine (shared/mapper/engine/transforms/) appears here with no edit to the UI.

const SCHEMA_URL = '/api/openapi.json';

/** The object schema a `$ref` (or an `anyOf` with null, for an optional field) stands for. */
function resolve(schemas, node) {
  if (!node) return {};
  if (node.$ref) return schemas[node.$ref.split('/').pop()] || {};
  const branches = (node.anyOf || []).filter((branch) => branch.type !== 'null');
  if (branches.length === 1) return { ...resolve(schemas, branches[0]), ...node, anyOf: undefined };
  return node;
}

/** Which control edits an option: its `x-control` mark, else what its type says. */
function kindOf(schemas, node) {
  const own = resolve(schemas, node);
  if (own['x-control']) return own['x-control'];
  if (Array.isArray(own.enum)) return 'select';
  const types = (node.anyOf || [own]).map((b) => resolve(schemas, b).type).filter((t) => t && t !== 'null');
  if (types.length === 1 && types[0] === 'boolean') return 'checkbox';
  if (types.length === 1 && types[0] === 'integer') return 'integer';
  if (types.length && types.every((t) => t === 'integer' || t === 'number')) return 'number';
  if (types.length === 1 && types[0] === 'string') return 'text';
  if (types.length === 1 && (types[0] === 'object' || types[0] === 'array')) return 'json';
  return 'loose';
}

/** The starting value of a required option: its first example, else an empty one. */
function startingValue(kind, node) {
  if (Array.isArray(node.examples) && node.examples.length) return JSON.parse(JSON.stringify(node.examples[0]));
  return { integer: 0, number: 0, checkbox: false, paths: [], json: {} }[kind] ?? '';
}

/** `{type: {label, fresh, parameters: {name: {kind, label, hint, placeholder, ...}}}}`. */
export function transformsFrom(openapi) {
  const schemas = (openapi.components && openapi.components.schemas) || {};
  const items = schemas.Mapping.properties.transforms.items;
  const out = {};
  for (const branch of items.oneOf || items.anyOf || []) {
    const model = resolve(schemas, branch);
    const type = model.properties.type.const;
    const required = new Set(model.required || []);
    const fresh = { type };
    const parameters = {};
    for (const [name, node] of Object.entries(model.properties)) {
      if (name === 'type') continue;
      const own = resolve(schemas, node);
      const kind = kindOf(schemas, node);
      const examples = Array.isArray(own.examples) ? own.examples : [];
      parameters[name] = {
        kind,
        label: own.title || node.title || name,
        hint: own.description || node.description || '',
        placeholder: examples.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join(', '),
        required: required.has(name),
        choices: kind === 'select' ? own.enum : undefined,
        default: 'default' in node ? node.default : own.default,
      };
      if (required.has(name)) fresh[name] = startingValue(kind, own);
    }
    out[type] = { label: model.title || type, fresh, parameters };
  }
  return out;
}

async function load() {
  try {
    const reply = await fetch(SCHEMA_URL, { cache: 'no-cache', credentials: 'omit' });
    if (!reply.ok) throw new Error(`the API answered ${reply.status}`);
    return transformsFrom(await reply.json());
  } catch (err) {
    // The editor still opens; its transform menu is empty and says why in the console.
    console.error(`cannot read the transforms from ${SCHEMA_URL}: ${err.message}`);
    return {};
  }
}

/** The transforms by type, loaded once before any module that imports this one runs. */
export const TRANSFORMS = await load();
