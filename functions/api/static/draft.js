// The editor's draft: the one owner of the document being edited, its sample text and the
// saved version it started from. The steps read it (`draft.doc` is a frozen snapshot) and
// ask for named changes; after each change the one subscriber (the editor, editor.js) hears
// `{name, path}` and redraws what that change needs. Nothing else writes the document.

import { fingerprint, fresh, normalised } from './document.js';

/** Freeze `value` and everything in it (a snapshot no step can edit in place). */
function deepFreeze(value) {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** A frozen copy of `node` with `value` at `keys` (undefined deletes); the rest is shared. */
function setIn(node, keys, value) {
  const [key, ...rest] = keys;
  const copy = Array.isArray(node) ? [...node] : { ...(node && typeof node === 'object' ? node : {}) };
  if (rest.length) copy[key] = setIn(copy[key], rest, value);
  else if (value === undefined) delete copy[key];
  else copy[key] = deepFreeze(structuredClone(value));
  return Object.freeze(copy);
}

/** `source.signature.secret` -> ['source', 'signature', 'secret']. */
function keysOf(path) {
  return path.split('.');
}

/** `{payload}` or `{error}` for the sample text; blank means no sample. */
function parseSample(text) {
  if (!text.trim()) return { payload: undefined, error: null };
  try {
    return { payload: JSON.parse(text), error: null };
  } catch (err) {
    return { error: err.message };
  }
}

/**
 * A draft of `doc` (or of `base`, the saved integration, or a blank one) with `sampleText`.
 * Without sample text, a stored `samplePayload` is shown indented.
 */
export function createDraft({ base = null, doc, sampleText = '' }) {
  let current = deepFreeze(normalised(doc));
  let text = sampleText;
  let sampleError = null;
  let savedBase = deepFreeze(base ? structuredClone(base) : null);
  let subscriber = null;
  // The settings of a source or target type left for another one, restored when switching back.
  const stash = {};

  const notify = (name, path) => {
    if (subscriber) subscriber({ name, path });
  };
  const put = (path, value) => {
    current = setIn(current, keysOf(path), value);
  };

  if (text.trim()) {
    const sample = parseSample(text);
    sampleError = sample.error;
    if (!sample.error) put('samplePayload', sample.payload);
  } else if (current.samplePayload !== undefined && current.samplePayload !== null) {
    text = JSON.stringify(current.samplePayload, null, 2);
  }

  const mappingPath = (i) => `mappings[${i}]`;
  const transformsOf = (i) => current.mappings[i].transforms || [];
  const setTransforms = (i, list) => {
    current = setIn(current, ['mappings', i, 'transforms'], list);
  };

  return {
    /** The document as it is now: frozen; a new object after every change. */
    get doc() {
      return current;
    },
    /** The saved integration this draft started from (frozen), or null for a new one. */
    get base() {
      return savedBase;
    },
    get sampleText() {
      return text;
    },
    /** Why the sample text is not JSON, or null. */
    get sampleError() {
      return sampleError;
    },
    /** True when saving would change something (always for a new integration). */
    isDirty() {
      return !savedBase || fingerprint(current) !== fingerprint(savedBase);
    },
    /** The one subscriber, called with `{name, path}` after each change; returns unsubscribe. */
    subscribe(fn) {
      subscriber = fn;
      return () => {
        if (subscriber === fn) subscriber = null;
      };
    },

    // --- step 1: name, source, target ---------------------------------------------------

    setName(name) {
      put('name', name);
      notify('setName', 'name');
    },
    /** Switch the source to `type`, keeping what the old type held for switching back. */
    setSourceType(type) {
      stash[`source:${current.source.type}`] = current.source;
      put('source', stash[`source:${type}`] || fresh('sourceTypes', type));
      notify('setSourceType', 'source.type');
    },
    setTargetType(type) {
      stash[`target:${current.target.type}`] = current.target;
      put('target', stash[`target:${type}`] || fresh('targetTypes', type));
      notify('setTargetType', 'target.type');
    },
    // A fan-out (docs/delivery.md, "Fan-out"): the single target becomes the first of a
    // list; each target's settings beyond name and type are edited as JSON.
    /** Another target: the single one becomes targets[0], named target-1. */
    addTarget(type = 'http') {
      const list = current.targets ? [...current.targets]
        : [{ ...current.target, name: 'target-1' }];
      list.push({ ...fresh('targetTypes', type), name: `target-${list.length + 1}` });
      current = setIn(setIn(current, ['target'], undefined), ['targets'], list);
      notify('addTarget', 'targets');
    },
    /** Remove targets[i]; the last one left becomes the single target again. */
    removeTarget(i) {
      const list = current.targets.filter((_, at) => at !== i);
      if (list.length === 1 && !list[0].condition && !list[0].mappings) {
        const { name, condition, mappings, ...only } = list[0];
        current = setIn(setIn(current, ['targets'], undefined), ['target'], only);
      } else {
        current = setIn(current, ['targets'], list);
      }
      notify('removeTarget', 'targets');
    },
    /** targets[i]'s type: a fresh target of that type keeping its name. */
    setFanoutTargetType(i, type) {
      const { name } = current.targets[i];
      current = setIn(current, ['targets', i], { ...fresh('targetTypes', type), name });
      notify('setFanoutTargetType', `targets[${i}].type`);
    },
    /** targets[i] as a whole (its name and type kept apart by the form). */
    setFanoutTarget(i, target) {
      current = setIn(current, ['targets', i], target);
      notify('setFanoutTarget', `targets[${i}]`);
    },
    /** A plain setting at a dotted path under source or target; undefined removes it. */
    setSetting(path, value) {
      if (!/^((source|target|notify)\.|orderingKey$)/.test(path)) throw new Error(`not a setting: ${path}`);
      put(path, value);
      notify('setSetting', path);
    },
    /** A delivery setting group (target.rateLimit, retry, circuitBreaker); undefined removes it. */
    setDeliveryGroup(path, value) {
      if (!['target.rateLimit', 'retry', 'circuitBreaker'].includes(path)) {
        throw new Error(`not a delivery setting: ${path}`);
      }
      put(path, value);
      notify('setDeliveryGroup', path);
    },
    /** Several target settings at once (the local mail catcher's server, port and TLS). */
    useTargetSettings(settings) {
      for (const [key, value] of Object.entries(settings)) put(`target.${key}`, value);
      notify('useTargetSettings', 'target.smtpServer');
    },
    setPubsubMode(mode) {
      put('source.mode', mode);
      notify('setPubsubMode', 'source.mode');
    },
    /** '' for no signature check; keeps the secret when switching schemes. */
    setSignatureScheme(scheme) {
      const old = current.source.signature;
      if (!scheme) {
        put('source.signature', undefined);
      } else {
        const signature = { ...(old || { secret: '' }), scheme };
        if (scheme !== 'hmac-sha256') delete signature.header;
        put('source.signature', signature);
      }
      notify('setSignatureScheme', 'source.signature.scheme');
    },
    /** '' for none, else the auth type with its fresh fields. */
    setAuthType(type) {
      put('target.auth', type ? fresh('authTypes', type) : undefined);
      notify('setAuthType', 'target.auth.type');
    },
    /** Send the API key in a 'header' or a 'queryParam', keeping its name. */
    setApiKeyPlace(place) {
      const { header, queryParam, ...auth } = current.target.auth;
      put('target.auth', { ...auth, [place]: header ?? queryParam ?? '' });
      notify('setApiKeyPlace', 'target.auth.place');
    },
    /** The HTTP target's extra headers, as a name -> value object. */
    setHeaders(headers) {
      put('target.headers', headers);
      notify('setHeaders', 'target.headers');
    },
    /** A new value for a write-only field (empty or undefined: none typed yet). */
    setSecret(path, value) {
      put(path, value);
      notify('setSecret', path);
    },
    /** Type a new value instead of the stored one. */
    replaceSecret(path) {
      put(path, '');
      notify('replaceSecret', path);
    },
    /** Undo a Replace: the stored reference again. */
    keepStoredSecret(path) {
      put(path, keysOf(path).reduce((node, key) => (node ? node[key] : undefined), savedBase));
      notify('keepStoredSecret', path);
    },

    // --- step 2: sample, condition, output fields ------------------------------------------

    setSample(sampleTextNow) {
      text = sampleTextNow;
      const sample = parseSample(text);
      sampleError = sample.error;
      if (!sample.error) put('samplePayload', sample.payload);
      notify('setSample', 'samplePayload');
    },
    setCondition(condition) {
      put('condition', condition);
      notify('setCondition', 'condition');
    },
    /** Build the output with a JSONata expression (on) or with output fields (off). */
    useJsonata(on) {
      put('jsonata', on ? (current.jsonata || '') : undefined);
      notify('useJsonata', 'jsonata');
    },
    setJsonata(expression) {
      put('jsonata', expression);
      notify('setJsonata', 'jsonata');
    },
    /** A new output field at the end; returns its index. */
    addMapping({ source, target = '' } = {}) {
      const mapping = source ? { source, target, transforms: [] } : { target, transforms: [] };
      current = setIn(current, ['mappings', current.mappings.length], mapping);
      notify('addMapping', 'mappings');
      return current.mappings.length - 1;
    },
    removeMapping(i) {
      put('mappings', current.mappings.filter((_, at) => at !== i));
      notify('removeMapping', 'mappings');
    },
    /** The output field's target path, as typed. */
    setMappingTarget(i, target) {
      current = setIn(current, ['mappings', i, 'target'], target);
      notify('setMappingTarget', `${mappingPath(i)}.target`);
    },
    /** The source path as typed; '' removes it (the whole payload). */
    setMappingSource(i, source) {
      current = setIn(current, ['mappings', i, 'source'], source === '' ? undefined : source);
      notify('setMappingSource', `${mappingPath(i)}.source`);
    },
    /** A picked or dropped path becomes the field's source (and names it when unnamed). */
    useSourcePath(i, source, target) {
      const mapping = { ...current.mappings[i], source };
      if (!mapping.target) mapping.target = target;
      current = setIn(current, ['mappings', i], mapping);
      notify('useSourcePath', 'mappings');
    },
    addTransform(i, type) {
      setTransforms(i, [...transformsOf(i), fresh('transforms', type)]);
      notify('addTransform', 'mappings');
    },
    setTransformType(i, k, type) {
      setTransforms(i, transformsOf(i).map((t, at) => (at === k ? fresh('transforms', type) : t)));
      notify('setTransformType', 'mappings');
    },
    /** One argument of a transform; undefined removes it. */
    setTransformArgument(i, k, key, value) {
      current = setIn(current, ['mappings', i, 'transforms', k, key], value);
      notify('setTransformArgument', `${mappingPath(i)}.transforms[${k}].${key}`);
    },
    moveTransform(i, k, delta) {
      const list = [...transformsOf(i)];
      const [moved] = list.splice(k, 1);
      list.splice(k + delta, 0, moved);
      setTransforms(i, list);
      notify('moveTransform', 'mappings');
    },
    removeTransform(i, k) {
      setTransforms(i, transformsOf(i).filter((_, at) => at !== k));
      notify('removeTransform', 'mappings');
    },

    // --- step 3: saved test cases -------------------------------------------------------

    /** A test case at the end of `tests` ({name, payload, expect | expectSkipped, ...}). */
    addTest(testCase) {
      current = setIn(current, ['tests'], [...(current.tests || []), testCase]);
      notify('addTest', 'tests');
    },
    removeTest(i) {
      const left = (current.tests || []).filter((_, at) => at !== i);
      current = setIn(current, ['tests'], left.length ? left : undefined);
      notify('removeTest', 'tests');
    },

    // --- step 4: saving ---------------------------------------------------------------

    /** Overwrite someone else's save: the draft is now based on `version`. */
    rebase(version) {
      savedBase = deepFreeze({ ...structuredClone(savedBase), version });
      notify('rebase', 'version');
    },
  };
}
