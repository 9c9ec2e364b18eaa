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

  const state = { where: "" };
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

  // --- built-ins, identical to mapper/transforms.py ---------------------------------------
  function text(v) {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    return JSON.stringify(v);
  }
  const BUILTINS = {
    uppercase: () => (v) => (typeof v === "string" ? v.toUpperCase() : v),
    lowercase: () => (v) => (typeof v === "string" ? v.toLowerCase() : v),
    substring: (t) => (v) => {
      if (typeof v !== "string") return v;
      const cps = Array.from(v);
      const end = t.length === null || t.length === undefined ? cps.length : t.start + t.length;
      return cps.slice(t.start, end).join("");
    },
    replace: (t) => (v) => (typeof v === "string" ? v.split(t.find).join(t.replace) : v),
    default: (t) => (v) => (v === null || v === undefined ? JSON.parse(JSON.stringify(t.value === undefined ? null : t.value)) : v),
    // Field values arrive resolved by Python, in `fieldValues`, one list per concat step.
    concat: (t) => (v, fieldValues) => {
      const parts = v === null || v === undefined ? [] : [text(v)];
      for (const f of fieldValues) if (f !== null && f !== undefined) parts.push(text(f));
      return parts.join(t.separator || "");
    },
  };

  const condition = spec.condition === null ? null
    : compile("condition", ["data", "attributes", "headers"], "return (" + spec.condition + "\n);");

  // chains[k] = { depth, steps: [{ kind, fn, where, concatIndex }] }
  const chains = spec.chains.map((chain) => ({
    depth: chain.depth,
    steps: chain.steps.map((t) => {
      if (t.type === "custom") {
        return { kind: "custom", where: t.where,
                 fn: compile(t.where, ["value", "data", "attributes", "headers"], t.code) };
      }
      return { kind: t.type, where: t.where, fn: BUILTINS[t.type](t), concatIndex: t.concatIndex };
    }),
  }));

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
          v = step.fn(v, concatArgs[step.concatIndex]);
        } else {
          v = step.fn(v);
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

  function deepFreeze(v) {
    if (v !== null && typeof v === "object" && !Object.isFrozen(v)) {
      Object.freeze(v);
      for (const k of Object.keys(v)) deepFreeze(v[k]);
    }
    return v;
  }

  function runOne(msg) {
    state.where = "";
    try {
      deepFreeze(msg.d); deepFreeze(msg.a); deepFreeze(msg.h);
      if (condition !== null) {
        state.where = "condition";
        if (!condition.call(undefined, msg.d, msg.a, msg.h)) return { s: 1 };
      }
      const out = [];
      for (let k = 0; k < chains.length; k++) {
        out.push(runChain(chains[k], msg.v[k], msg.c[k], msg));
      }
      // Stringify here so that a value JSON cannot carry fails inside the try.
      return { j: JSON.stringify(out) };
    } catch (e) {
      return { e: state.where, m: describe(e) };
    }
  }

  function run(batchJson) {
    const batch = JSON.parse(batchJson);
    const results = [];
    for (const msg of batch) results.push(runOne(msg));
    return JSON.stringify(results);
  }

  // No code from strings once the user's functions are compiled: then the sandbox's
  // scan of the user's source for async syntax (mapper/sandbox.py) cannot be dodged.
  // (lockdown already made every function prototype's `constructor` throw.)
  const noCodeFromStrings = function () { throw new EvalError("code from strings is disabled"); };
  globalThis.eval = noCodeFromStrings;
  globalThis.Function = noCodeFromStrings;

  Object.defineProperty(globalThis, "__run", { value: run });
  Object.defineProperty(globalThis, "__where", { value: () => state.where });
  Object.defineProperty(globalThis, "__compileErrors", { value: () => JSON.stringify(compileErrors) });
  // The rest of the global object: the host's console, our functions, the global itself.
  harden(globalThis);
})();
