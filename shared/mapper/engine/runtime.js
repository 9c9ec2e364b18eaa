// The JavaScript side of one compiled integration, loaded once per V8 isolate, after
// SES (vendor/ses-lockdown.umd.min.js) has defined `lockdown`.
//
// __SPEC__ is replaced by the integration's JSON spec: the condition and the transform
// chains that contain custom code. User code is never pasted into this source: it is
// compiled with new Function(), so it cannot reach outside its own function body.
//
// The realm is hardened by SES `lockdown()`: every intrinsic, named or hidden (iterator,
// generator and async prototypes, ...), is frozen, and legacy mutable state such as
// RegExp.input / RegExp.lastMatch is gone, so nothing one message does is seen by the
// next. This file adds what lockdown does not do: it removes what user code must not
// have (memory outside the V8 heap, work that outlives a call, code from strings, SES's
// own Compartment), then freezes the global object. docs/security.md lists what remains.
"use strict";
(function () {
  const spec = __SPEC__;

  // Removed before lockdown freezes their holders. Array.fromAsync schedules promise jobs
  // without the async syntax the sandbox's after-call probe looks for (mapper/sandbox.py).
  try { delete Array.fromAsync; } catch (e) { /* not there */ }

  lockdown({
    errorTaming: "safe",          // no stacks for user code to read
    localeTaming: "unsafe",       // keep toLocaleString(locale, options): amounts, dates
    consoleTaming: "unsafe",      // console stays the host's, hardened below
    overrideTaming: "moderate",   // `obj.toString = f` on a plain object still works
    stackFiltering: "concise",
    errorTrapping: "none",        // we catch every error ourselves
    unhandledRejectionTrapping: "none",
    reporting: "none",            // nothing to print to
  });

  // JSONata (vendor/jsonata.min.js, fetched like SES), when the spec uses it: sandbox.py
  // puts its UMD build in the placeholder as a function of `Promise` and returns
  // module.exports. It is loaded here, after lockdown, so it runs on the frozen
  // intrinsics like user code: it needs none changed (each of its modules is strict
  // code, so a write to a frozen intrinsic would throw, and none does). Its evaluator is
  // async: it is handed the Promise intrinsic before the global name is removed below.
  const JSONATA = __JSONATA__;
  const jsonata = JSONATA === null ? null : harden(JSONATA(Promise));

  // Hidden intrinsics this SES version does not know of, so left unfrozen by lockdown:
  // V8's Intl.Segmenter results. tests/security/test_sandbox_realm.py walks the realm for
  // any other shared object left unfrozen.
  const segments = new Intl.Segmenter().segment("");
  harden(Object.getPrototypeOf(segments));
  harden(Object.getPrototypeOf(segments[Symbol.iterator]()));

  // Globals removed after lockdown (it wants them present; the global object itself is
  // left writable by lockdown and frozen at the end):
  // - memory outside the V8 heap, which the isolate's limit does not count: ArrayBuffer,
  //   SharedArrayBuffer, the typed arrays (and with them %TypedArray%), DataView,
  //   Atomics, WebAssembly (its Memory is a buffer too);
  // - work for later: timers (mini-racer installs setTimeout as a non-deletable `var`, so
  //   it is overwritten), promise jobs, finalizers; async syntax is caught by the
  //   sandbox's after-call probe instead;
  // - SES's own API: Compartment would hand out a fresh global with the names above and
  //   evaluate strings; lockdown and its halves run once.
  for (const name of [
    "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "WebAssembly",
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array",
    "BigInt64Array", "BigUint64Array",
    "setTimeout", "clearTimeout", "setInterval", "clearInterval", "__timer_manager",
    "queueMicrotask", "Promise", "FinalizationRegistry", "AsyncDisposableStack",
    "Compartment", "lockdown", "repairIntrinsics", "hardenIntrinsics", "getStackString",
    "assert",
  ]) {
    try { delete globalThis[name]; } catch (e) { /* not there */ }
    try { if (name in globalThis) globalThis[name] = undefined; } catch (e) { /* read-only */ }
  }

  const state = { where: "", left: 0 };
  const compileErrors = [];

  function compile(where, params, body) {
    try {
      return new Function(...params, '"use strict";\n' + body + "\n");
    } catch (e) {
      compileErrors.push({ where: where, message: describe(e) });
      return null;
    }
  }

  // What a thrown value says, never throwing itself: a thrown object's `name` or `message`
  // may be a getter that throws, or the object a Proxy whose every trap does.
  function describe(e) {
    try {
      if (e && typeof e === "object") {
        const message = e.message;
        if (typeof message === "string") {
          const name = e.name;
          return (typeof name === "string" ? name + ": " : "") + message;
        }
      }
    } catch (_) { /* described below, more plainly */ }
    try { return "threw " + String(e); } catch (_) { return "threw a value that cannot be shown"; }
  }

  // --- built-ins: each transform's JavaScript side comes from its module in
  // mapper/engine/transforms/ (sandbox.py puts them in the placeholder below), as
  // `(t) => (value, data, inputs) => newValue`. The helpers here are the ones they share,
  // each identical to its Python twin in transforms/_text.py.
  function text(v) {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    return JSON.stringify(v);
  }
  const SHOWN_CHARS = 40;
  function show(v) {
    if (typeof v === "string") {
      const cps = Array.from(v);
      return JSON.stringify(cps.slice(0, SHOWN_CHARS).join("")) + (cps.length > SHOWN_CHARS ? "..." : "");
    }
    if (v === null || v === undefined) return "null";
    if (typeof v === "boolean") return "a boolean";
    if (typeof v === "number") return "the number " + String(v);
    return Array.isArray(v) ? "an array" : "an object";
  }
  const WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" +
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";
  function trimWhitespace(s) {
    let a = 0, b = s.length;
    while (a < b && WHITESPACE.includes(s[a])) a++;
    while (b > a && WHITESPACE.includes(s[b - 1])) b--;
    return s.slice(a, b);
  }
  // A built-in's refusal of a value: the message says only `message` (see describe()).
  class BuiltinFailure { constructor(message) { this.message = message; } }
  function fail(message) { throw new BuiltinFailure(message); }
  // The output limit (mapper/engine/transforms/_output.py, the same numbers and words):
  // a growing built-in measures its result before building it, and one message's
  // results share a budget, started again by runOne.
  const limits = spec.limits;
  class OutputFailure extends BuiltinFailure {}
  const grouped = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  function room() { return Math.min(limits.value, state.left); }
  function charge(name, size) {
    if (size > limits.value) {
      throw new OutputFailure(name + ": the result would pass the output limit of " +
        grouped(limits.value) + " characters per value");
    }
    if (size > state.left) {
      throw new OutputFailure(name + ": the result would pass the output limit of " +
        grouped(limits.message) + " characters per message");
    }
    state.left -= size;
  }
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  // Read parsed path steps (keys, indexes, null for [*]) as mapper/engine/paths.py does.
  // A path with [*] always gives an array: [] when what comes before it is not one.
  function getPath(steps, doc, from = 0) {
    const cut = steps.indexOf(null, from);
    const end = cut < 0 ? steps.length : cut;
    let v = doc;
    for (let i = from; i < end && v !== null; i++) {
      const step = steps[i];
      if (typeof step === "string") {
        v = isObject(v) && own(v, step) ? v[step] : null;
      } else {
        v = Array.isArray(v) && step >= -v.length && step < v.length
          ? v[step < 0 ? v.length + step : step] : null;
      }
    }
    if (cut < 0) return v === undefined ? null : v;
    return Array.isArray(v) ? v.map((item) => getPath(steps, item, cut + 1)) : [];
  }
  // Text as UTF-8 bytes (an array of numbers: typed arrays are gone), and back (null when
  // the bytes are not well-formed UTF-8, as Python's strict decoder judges them).
  function utf8(s) {
    const out = [];
    for (const ch of s) {
      let c = ch.codePointAt(0);
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;  // a lone surrogate cannot be encoded
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return out;
  }
  function fromUtf8(bytes) {
    let out = "";
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i];
      let n, c, lo = 0x80, hi = 0xbf;
      if (b < 0x80) { out += String.fromCharCode(b); i++; continue; }
      if (b >= 0xc2 && b <= 0xdf) { n = 1; c = b & 31; }
      else if (b >= 0xe0 && b <= 0xef) {
        n = 2; c = b & 15;
        if (b === 0xe0) lo = 0xa0;
        if (b === 0xed) hi = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        n = 3; c = b & 7;
        if (b === 0xf0) lo = 0x90;
        if (b === 0xf4) hi = 0x8f;
      } else return null;
      for (let j = 1; j <= n; j++) {
        const x = bytes[i + j];
        if (x === undefined || x < (j === 1 ? lo : 0x80) || x > (j === 1 ? hi : 0xbf)) return null;
        c = (c << 6) | (x & 63);
      }
      out += String.fromCodePoint(c);
      i += n + 1;
    }
    return out;
  }
  const BUILTINS = __BUILTINS__;

  const condition = spec.condition === null ? null
    : compile("condition", ["data", "attributes", "headers"], "return (" + spec.condition + "\n);");

  // chains[k] = { depth, steps: [{ kind, fn, where, concatIndex }] }
  const chains = spec.chains.map((chain) => ({
    depth: chain.depth,
    steps: chain.steps.map((t) => {
      if (t.type === "jsonata") {
        return { kind: "jsonata", where: t.where, fn: compileJsonata(t.where, t.expression) };
      }
      if (t.type === "custom") {
        return { kind: "custom", where: t.where,
                 fn: compile(t.where, ["value", "data", "attributes", "headers"], t.code) };
      }
      return { kind: t.type, where: t.where, fn: BUILTINS[t.type](t), concatIndex: t.concatIndex };
    }),
  }));

  // A JSONata error carries a code (S0203, T2002, ...), a position in the expression (the
  // character after the token it stopped at) and a message: kept apart for the host.
  class JsonataFailure {
    constructor(e) {
      this.message = typeof e.message === "string" ? e.message : describe(e);
      this.code = typeof e.code === "string" ? e.code : null;
      this.position = typeof e.position === "number" ? e.position : null;
    }
  }
  function compileJsonata(where, expression) {
    try {
      return jsonata(expression);
    } catch (e) {
      const f = new JsonataFailure(e);
      compileErrors.push({ where: where, message: f.message, code: f.code, position: f.position });
      return null;
    }
  }
  async function evaluateJsonata(compiled, input, msg) {
    if (compiled === null) throw new BuiltinFailure("the expression does not compile");
    let v;
    try {
      v = await compiled.evaluate(input, { data: msg.d, attributes: msg.a, headers: msg.h });
    } catch (e) {
      throw e !== null && typeof e === "object" && "code" in e ? new JsonataFailure(e) : e;
    }
    return normalise(v);
  }
  const topJsonata = spec.jsonata === null ? null : compileJsonata("jsonata", spec.jsonata);

  function normalise(v) {
    // What JSON can carry: undefined -> null, functions and symbols -> null.
    return v === undefined ? null : v;
  }

  function runChain(chain, value, concatArgs, msg) {
    const apply = (v) => {
      for (const step of chain.steps) {
        state.where = step.where;
        if (step.kind === "custom") {
          v = normalise(step.fn.call(undefined, v, msg.d, msg.a, msg.h));
        } else if (step.kind === "concat") {
          v = step.fn(v, msg.d, concatArgs[step.concatIndex]);
        } else {
          v = step.fn(v, msg.d);
        }
      }
      return v;
    };
    const overLeaves = (v, depth) => {
      if (depth === 0) return apply(v);
      if (!Array.isArray(v)) return v;
      return v.map((x) => overLeaves(x, depth - 1));
    };
    return overLeaves(value, chain.depth);
  }

  // The same chain with JSONata steps, awaited one value at a time, in order.
  async function runChainAsync(chain, value, concatArgs, msg) {
    const apply = async (v) => {
      for (const step of chain.steps) {
        state.where = step.where;
        if (step.kind === "jsonata") {
          v = await evaluateJsonata(step.fn, v, msg);
          state.where = step.where;
        } else if (step.kind === "custom") {
          v = normalise(step.fn.call(undefined, v, msg.d, msg.a, msg.h));
        } else if (step.kind === "concat") {
          v = step.fn(v, msg.d, concatArgs[step.concatIndex]);
        } else {
          v = step.fn(v, msg.d);
        }
      }
      return v;
    };
    const overLeaves = async (v, depth) => {
      if (depth === 0) return apply(v);
      if (!Array.isArray(v)) return v;
      const out = [];
      for (const x of v) out.push(await overLeaves(x, depth - 1));
      return out;
    };
    return overLeaves(value, chain.depth);
  }

  function deepFreeze(v) {
    if (v !== null && typeof v === "object" && !Object.isFrozen(v)) {
      Object.freeze(v);
      for (const k of Object.keys(v)) deepFreeze(v[k]);
    }
    return v;
  }

  // One message: begin (freeze, condition), the chains' values, finish (JSON, output
  // limit); any failure becomes the message's error. runOne is the synchronous path;
  // runOneAsync the one for a spec with JSONata, whose evaluate returns a promise.
  function begin(msg) {
    state.where = "";
    state.left = limits.message;
    deepFreeze(msg.d); deepFreeze(msg.a); deepFreeze(msg.h);
    if (condition !== null) {
      state.where = "condition";
      if (!condition.call(undefined, msg.d, msg.a, msg.h)) return { s: 1 };
    }
    return null;
  }

  // Each chain's value as JSON here, so that a value JSON cannot carry fails inside
  // the try, and values past the output limit fail naming the chain that passed it.
  function finish(values) {
    const out = [];
    let size = 2;
    for (let k = 0; k < values.length; k++) {
      const json = JSON.stringify(values[k]);
      out.push(json === undefined ? "null" : json);
      size += out[k].length + 1;
      if (size > limits.message) {
        throw new OutputFailure("the returned values would pass the output limit of " +
          grouped(limits.message) + " characters per message");
      }
    }
    return { j: "[" + out.join(",") + "]" };
  }

  function failure(e) {
    if (e instanceof OutputFailure) return { e: state.where, m: e.message, k: "output" };
    if (e instanceof JsonataFailure) {
      return { e: state.where, m: e.message, k: "jsonata", c: e.code, p: e.position };
    }
    return { e: state.where, m: describe(e) };
  }

  function runOne(msg) {
    try {
      const skipped = begin(msg);
      if (skipped !== null) return skipped;
      const values = [];
      for (let k = 0; k < chains.length; k++) {
        values.push(runChain(chains[k], msg.v[k], msg.c[k], msg));
      }
      return finish(values);
    } catch (e) {
      return failure(e);
    }
  }

  async function runOneAsync(msg) {
    try {
      const skipped = begin(msg);
      if (skipped !== null) return skipped;
      const values = [];
      if (spec.jsonata !== null) {
        state.where = "jsonata";
        values.push(await evaluateJsonata(topJsonata, msg.d, msg));
      }
      for (let k = 0; k < chains.length; k++) {
        values.push(await runChainAsync(chains[k], msg.v[k], msg.c[k], msg));
      }
      return finish(values);
    } catch (e) {
      return failure(e);
    }
  }

  function run(batchJson) {
    const batch = JSON.parse(batchJson);
    const results = [];
    for (const msg of batch) results.push(runOne(msg));
    return JSON.stringify(results);
  }

  // With JSONata: start the batch, one message after another. Its promise jobs run when
  // this call's script ends, still inside the same call and its time limit (V8 runs the
  // microtask queue before the call returns); __collect, the next call, reads the results.
  const pending = { results: null };
  function start(batchJson) {
    const batch = JSON.parse(batchJson);
    const results = [];
    pending.results = null;
    (async () => {
      for (const msg of batch) results.push(await runOneAsync(msg));
      pending.results = results;
    })();
    return batch.length;
  }
  function collect() {
    const results = pending.results;
    pending.results = null;
    return results === null ? null : JSON.stringify(results);
  }

  // No code from strings once the user's functions are compiled: then the sandbox's
  // scan of the user's source for async syntax (mapper/sandbox.py) cannot be dodged.
  // (lockdown already made every function prototype's `constructor` throw.)
  const noCodeFromStrings = function () { throw new EvalError("code from strings is disabled"); };
  globalThis.eval = noCodeFromStrings;
  globalThis.Function = noCodeFromStrings;

  Object.defineProperty(globalThis, "__run", { value: run });
  Object.defineProperty(globalThis, "__start", { value: start });
  Object.defineProperty(globalThis, "__collect", { value: collect });
  Object.defineProperty(globalThis, "__where", { value: () => state.where });
  Object.defineProperty(globalThis, "__compileErrors", { value: () => JSON.stringify(compileErrors) });
  // The rest of the global object: the host's console, our functions, the global itself.
  harden(globalThis);
})();
