// The JavaScript side of one compiled integration, loaded once per V8 isolate.
//
// __SPEC__ is replaced by the integration's JSON spec: the condition and the transform
// chains that contain custom code. User code is never pasted into this source: it is
// compiled with new Function(), so it cannot reach outside its own function body.
// After set-up every reachable object is frozen and the global object sealed, so that
// nothing one message does (prototype pollution, globals) is seen by the next.
"use strict";
(function () {
  const spec = __SPEC__;

  // Nothing may outlive its call: remove timers (mini-racer installs setTimeout as a
  // non-deletable `var`, so it is overwritten) and every standard way to schedule work
  // for later (promise jobs, finalizers, async waits). Async syntax is caught by the
  // sandbox's after-call probe instead (mapper/sandbox.py).
  for (const name of ["setTimeout", "clearTimeout", "setInterval", "clearInterval",
                      "__timer_manager", "queueMicrotask", "Promise", "WebAssembly",
                      "FinalizationRegistry", "AsyncDisposableStack", "SharedArrayBuffer"]) {
    try { delete globalThis[name]; } catch (e) { /* not there */ }
    try { if (name in globalThis) globalThis[name] = undefined; } catch (e) { /* read-only */ }
  }
  try { delete Atomics.waitAsync; } catch (e) { /* not there */ }
  try { delete Array.fromAsync; } catch (e) { /* not there */ }

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

  function describe(e) {
    if (e && typeof e === "object" && typeof e.message === "string") {
      return (typeof e.name === "string" ? e.name + ": " : "") + e.message;
    }
    try { return "threw " + String(e); } catch (_) { return "threw a value"; }
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
    deepFreeze(msg.d); deepFreeze(msg.a); deepFreeze(msg.h);
    try {
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

  // Freeze everything reachable from the global object, then the global object itself.
  const seen = new Set();
  function harden(v) {
    if (v === null || (typeof v !== "object" && typeof v !== "function") || seen.has(v)) return;
    seen.add(v);
    try { Object.freeze(v); } catch (e) { return; }
    for (const key of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (!d) continue;
      if ("value" in d) harden(d.value);
      if (d.get) harden(d.get);
      if (d.set) harden(d.set);
    }
    harden(Object.getPrototypeOf(v));
  }

  // No code from strings once the user's functions are compiled: then the sandbox's
  // scan of the user's source for async syntax (mapper/sandbox.py) cannot be dodged.
  const noCodeFromStrings = function () { throw new EvalError("code from strings is disabled"); };
  globalThis.eval = noCodeFromStrings;
  globalThis.Function = noCodeFromStrings;
  for (const proto of [Object.getPrototypeOf(function () {}), Object.getPrototypeOf(function* () {}),
                       Object.getPrototypeOf(async function () {}),
                       Object.getPrototypeOf(async function* () {})]) {
    Object.defineProperty(proto, "constructor", { value: noCodeFromStrings });
  }

  Object.defineProperty(globalThis, "__run", { value: run });
  Object.defineProperty(globalThis, "__where", { value: () => state.where });
  Object.defineProperty(globalThis, "__compileErrors", { value: () => JSON.stringify(compileErrors) });
  for (const key of Reflect.ownKeys(globalThis)) {
    if (key === "globalThis") continue;
    const d = Object.getOwnPropertyDescriptor(globalThis, key);
    if (d && "value" in d) harden(d.value);
  }
  // Generator, async and iterator prototypes are not reachable by name; harden them too.
  harden(Object.getPrototypeOf(function* () {}));
  harden(Object.getPrototypeOf(async function () {}));
  harden(Object.getPrototypeOf(async function* () {}));
  harden(Object.getPrototypeOf([][Symbol.iterator]()));
  Object.freeze(globalThis);
})();
