"""Compile an integration once into a plan; apply the plan per message (the hot path).

A plan holds, per mapping, a compiled source getter, the Python built-in transforms that
run before the first custom transform, and a compiled target setter. Everything from the
first custom transform on, and the condition, runs in one sandbox call per message (or
per batch of messages, see `apply_many`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

from ..errors import MapperError, TransformError
from . import config as cfg
from .codegen import FieldPlan, generate
from .paths import compile_getter, compile_setter, parse_path, wildcard_count
from .transforms import TransformFn, compile_transform, js_step
from .transforms._output import limits as output_limits

if TYPE_CHECKING:
    # The sandbox (and its child process's module) loads only for a plan with JavaScript.
    from .sandbox import JsOutcome, Sandbox


class Message:
    """One incoming message as the engine sees it."""

    __slots__ = ("data", "attributes", "headers")

    def __init__(
        self,
        data: Any,
        attributes: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.data = data
        self.attributes = attributes or {}
        self.headers = headers or {}


@dataclass(slots=True)
class Outcome:
    """The engine's verdict on one message: output, skipped, or error."""

    output: Any = None
    skipped: bool = False
    error: MapperError | None = None
    transform_ms: float = 0.0


@dataclass
class _CompiledMapping:
    index: int
    get: Callable[[Any], Any]
    depth: int
    python_steps: list[TransformFn]
    js_chain: int | None  # index into the sandbox's chains, when custom code is involved
    concat_getters: list[list[Callable[[Any], Any]]]  # per concat step in the JS part
    set: Callable[[dict, Any], None]


class Plan:
    """A compiled integration: `apply` one message, or `apply_many` in batches."""

    def __init__(self, integration: cfg.Integration) -> None:
        self.integration = integration
        self._mappings: list[_CompiledMapping] = []
        chains: list[dict[str, Any]] = []
        for i, mapping in enumerate(integration.mappings):
            self._mappings.append(self._compile_mapping(i, mapping, chains))
        self._js_mappings = [m for m in self._mappings if m.js_chain is not None]
        self._map_fields, self._field_values, self._assemble_fields = generate(
            [
                FieldPlan(
                    source=parse_path(mapping.source) if mapping.source else None,
                    get=m.get,
                    steps=m.python_steps,
                    depth=m.depth,
                    target=parse_path(mapping.target),
                    set=m.set,
                )
                for m, mapping in zip(self._mappings, integration.mappings, strict=True)
            ]
        )
        condition = integration.condition
        if condition is not None and not condition.strip():
            condition = None
        self._sandbox: Sandbox | None = None
        # `jsonata` on the integration: the expression's result is the whole output.
        self._jsonata = integration.jsonata
        if condition is not None or chains or self._jsonata is not None:
            from .sandbox import Sandbox

            limits = integration.sandbox
            self._sandbox = Sandbox(
                {
                    "condition": condition,
                    "chains": chains,
                    "jsonata": self._jsonata,
                    "limits": output_limits(),
                },
                limits.timeout_ms,
                limits.memory_mb,
            )

    @staticmethod
    def _compile_mapping(
        i: int, mapping: cfg.Mapping, chains: list[dict[str, Any]]
    ) -> _CompiledMapping:
        source_steps = parse_path(mapping.source) if mapping.source else ()
        get = compile_getter(source_steps) if source_steps else _none
        transforms = list(mapping.transforms)
        first_custom = next(
            (k for k, t in enumerate(transforms) if isinstance(t, cfg.SANDBOX_ONLY)), None
        )
        python_part = transforms if first_custom is None else transforms[:first_custom]
        js_chain = None
        concat_getters: list[list[Callable[[Any], Any]]] = []
        if first_custom is not None:
            steps = []
            for k in range(first_custom, len(transforms)):
                spec = js_step(transforms[k])
                spec["where"] = f"mappings[{i}].transforms[{k}]"
                if isinstance(transforms[k], cfg.Concat):
                    spec["concatIndex"] = len(concat_getters)
                    concat_getters.append(
                        [compile_getter(parse_path(f)) for f in transforms[k].fields]
                    )
                steps.append(spec)
            js_chain = len(chains)
            chains.append({"depth": wildcard_count(source_steps), "steps": steps})
        return _CompiledMapping(
            index=i,
            get=get,
            depth=wildcard_count(source_steps),
            python_steps=[
                compile_transform(t, f"mappings[{i}].transforms[{k}]")
                for k, t in enumerate(python_part)
            ],
            js_chain=js_chain,
            concat_getters=concat_getters,
            set=compile_setter(parse_path(mapping.target)),
        )

    @property
    def uses_javascript(self) -> bool:
        """Whether messages go through the sandbox (condition or custom transforms)."""
        return self._sandbox is not None

    def compile_errors(self) -> list[tuple[str, str]]:
        """JavaScript that does not parse: (where, message) pairs."""
        return self._sandbox.compile_errors() if self._sandbox else []

    def plain_mapper(self) -> Callable[[Any], Any] | None:
        """Without JavaScript, the mapping itself: data -> output, raising on a failure that
        `failure_of` explains; None when messages go through the sandbox (use `apply`)."""
        if self._sandbox is not None:
            return None
        return self._map_fields if self._mappings else _identity

    def apply(self, message: Message) -> Outcome:
        """Decide skip or process for one message and build its output; never raises."""
        if self._sandbox is None:
            started = perf_counter()
            try:
                output = self._map_fields(message.data) if self._mappings else message.data
            except Exception as exc:  # noqa: BLE001 - see failure_of
                return Outcome(error=failure_of(exc))
            return Outcome(output, False, None, (perf_counter() - started) * 1000)
        return next(self._apply_batch([message]))

    def apply_many(self, messages: Iterable[Message], batch_size: int = 64) -> Iterator[Outcome]:
        """Outcomes for messages in order, one sandbox call per batch; never raises."""
        if self._sandbox is None:
            map_fields = self._map_fields if self._mappings else _identity
            for message in messages:
                try:
                    yield Outcome(output=map_fields(message.data))
                except Exception as exc:  # noqa: BLE001 - see failure_of
                    yield Outcome(error=failure_of(exc))
            return
        batch: list[Message] = []
        for message in messages:
            batch.append(message)
            if len(batch) >= batch_size:
                yield from self._apply_batch(batch)
                batch = []
        if batch:
            yield from self._apply_batch(batch)

    def _apply_batch(self, batch: list[Message]) -> Iterator[Outcome]:
        started = perf_counter()
        # The Python part of each message, each failing alone; the rest go to the sandbox.
        prepared: list[list[Any] | None] = []
        inputs: list[dict[str, Any]] = []
        failed: dict[int, MapperError] = {}
        for i, message in enumerate(batch):
            try:
                values = self._field_values(message.data)
                inputs.append(self._js_input(message, values))
            except Exception as exc:  # noqa: BLE001 - see failure_of
                failed[i] = failure_of(exc)
                values = None
            prepared.append(values)
        js: list[JsOutcome | None] = [None] * len(batch)
        if self._sandbox is not None and inputs:
            verdicts = iter(self._sandbox.run_batch(inputs))
            js = [None if i in failed else next(verdicts) for i in range(len(batch))]
        per_message_ms = (perf_counter() - started) * 1000 / len(batch)
        for i, (message, values, verdict) in enumerate(zip(batch, prepared, js, strict=True)):
            item_started = perf_counter()
            if i in failed or values is None:
                yield Outcome(error=failed[i], transform_ms=per_message_ms)
                continue
            if verdict is not None and verdict.error is not None:
                yield Outcome(error=verdict.error, transform_ms=per_message_ms)
                continue
            if verdict is not None and verdict.skipped:
                yield Outcome(skipped=True, transform_ms=per_message_ms)
                continue
            if verdict is not None and self._jsonata is not None:
                yield Outcome(output=(verdict.values or [None])[0], transform_ms=per_message_ms)
                continue
            if verdict is not None:
                for mapping, value in zip(self._js_mappings, verdict.values or [], strict=True):
                    values[mapping.index] = value
            try:
                output = self._assemble_fields(values) if self._mappings else message.data
            except Exception as exc:  # noqa: BLE001 - see failure_of
                yield Outcome(error=failure_of(exc), transform_ms=per_message_ms)
                continue
            elapsed = per_message_ms + (perf_counter() - item_started) * 1000
            yield Outcome(output=output, transform_ms=elapsed)

    def _js_input(self, message: Message, values: list[Any]) -> dict[str, Any]:
        data = message.data
        return {
            "d": data,
            "a": message.attributes,
            "h": message.headers,
            "v": [values[m.index] for m in self._js_mappings],
            "c": [
                [[g(data) for g in step] for step in m.concat_getters] for m in self._js_mappings
            ],
        }

    def close(self) -> None:
        """Free the sandbox's isolate."""
        if self._sandbox is not None:
            self._sandbox.close()


def failure_of(exc: Exception) -> MapperError:
    """The error a message's mapping raised, as its outcome states it."""
    # The mapping is pure code over one message's data: whatever it raises is about that
    # message (a value nested past Python's recursion limit, say), so it fails that message
    # alone, with the reason, instead of failing its batch or being redelivered forever.
    if isinstance(exc, MapperError):
        return exc
    if isinstance(exc, RecursionError):
        from .sandbox import TOO_DEEP

        return TransformError("", f"the message is {TOO_DEEP}")
    return TransformError("", f"this message could not be mapped: {type(exc).__name__}: {exc}")


def _none(data: Any) -> None:
    return None


def _identity(data: Any) -> Any:
    return data


def routed(integration: cfg.Integration, route: cfg.Route | None) -> cfg.Integration:
    """The integration as one fan-out target sees it: with that target's condition, mappings."""
    if route is None or not route.own:
        return integration
    # A target's own mappings replace the integration's `jsonata` as they replace its mappings.
    jsonata = None if route.mappings else integration.jsonata
    return integration.model_copy(
        update={"condition": route.condition, "mappings": list(route.mappings), "jsonata": jsonata}
    )


class PlanCache:
    """Compiled plans keyed by integration id, version and own target; LRU evicted.

    Each plan with JavaScript holds a V8 isolate, hence the bound. A fan-out target with
    its own condition or mappings has a plan of its own; the others share the integration's.
    """

    def __init__(self, max_plans: int = 64) -> None:
        self._plans: OrderedDict[tuple[str, int | None, str], Plan] = OrderedDict()
        self._max = max_plans
        self._lock = threading.Lock()

    def get(self, integration: cfg.Integration, route: cfg.Route | None = None) -> Plan:
        """The plan for this integration's id and version (and target), compiled on first use."""
        with self._lock:  # the threads of one instance share the cache
            return self._get(integration, route)

    def _get(self, integration: cfg.Integration, route: cfg.Route | None) -> Plan:
        own = route.name if route is not None and route.own else ""
        key = (integration.id or "", integration.version, own)
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
            return plan
        for old_key in [k for k in self._plans if k[0] == key[0] and k[1] != key[1]]:
            self._plans.pop(old_key).close()  # an older version of the same integration
        plan = Plan(routed(integration, route))
        self._plans[key] = plan
        while len(self._plans) > self._max:
            self._plans.popitem(last=False)[1].close()
        return plan
