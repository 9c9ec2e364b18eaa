"""Engine benchmark: compiled plans against hand-written Python, measured in the same run.

    make bench            (or .venv/bin/python bench/engine.py [--orders N])

Prints records/s for each contender and the ratios the targets in docs/performance.md
are stated in. Pin to one core with `taskset -c 0 make bench` for the one-core figures.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, Plan


def make_order(n: int, rng: random.Random) -> dict[str, Any]:
    """A realistic ~2 KB order: customer, addresses, 10 line items."""
    return {
        "id": f"ord_{n:08d}",
        "type": "order.created" if n % 10 else "order.updated",
        "createdAt": "2026-11-27T12:00:00Z",
        "currency": "eur",
        "customer": {
            "id": f"cus_{rng.randrange(10**6):06d}",
            "email": f"Customer.{n}@Example.COM",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "phone": "+44 20 7946 0000",
        },
        "shippingAddress": {
            "line1": "12 Analytical Row",
            "line2": None,
            "city": "London",
            "postalCode": "N1 9GU",
            "country": "gb",
        },
        "billingAddress": {
            "line1": "12 Analytical Row",
            "city": "London",
            "postalCode": "N1 9GU",
            "country": "gb",
        },
        "items": [
            {
                "sku": f"SKU-{rng.randrange(1000):04d}",
                "name": f"Item number {i}",
                "quantity": rng.randrange(1, 5),
                "unitPrice": rng.randrange(100, 10000),
                "tags": ["gift", "fragile"],
            }
            for i in range(10)
        ],
        "totals": {"subtotal": 12345, "tax": 2469, "shipping": 499, "total": 15313},
        "metadata": {"channel": "web", "campaign": "winter-sale", "note": "Leave at the door"},
    }


MAPPINGS = [
    {"source": "id", "target": "orderId"},
    {"source": "customer.email", "target": "email", "transforms": [{"type": "lowercase"}]},
    {
        "target": "customerName",
        "transforms": [
            {
                "type": "concat",
                "fields": ["customer.firstName", "customer.lastName"],
                "separator": " ",
            }
        ],
    },
    {"source": "shippingAddress.city", "target": "address.city"},
    {
        "source": "shippingAddress.country",
        "target": "address.country",
        "transforms": [{"type": "uppercase"}],
    },
    {"source": "items[*].sku", "target": "skus[*]"},
    {"source": "items[*].quantity", "target": "quantities[*]"},
    {"source": "totals.total", "target": "total"},
    {
        "source": "metadata.note",
        "target": "note",
        "transforms": [{"type": "substring", "start": 0, "length": 10}],
    },
    {
        "source": "metadata.coupon",
        "target": "coupon",
        "transforms": [{"type": "default", "value": "none"}],
    },
]


def hand_written(o: dict[str, Any]) -> dict[str, Any]:
    """The reference: the same mapping as a person would write it in Python."""
    customer = o.get("customer") or {}
    ship = o.get("shippingAddress") or {}
    email = customer.get("email")
    country = ship.get("country")
    names = [x for x in (customer.get("firstName"), customer.get("lastName")) if x is not None]
    note = (o.get("metadata") or {}).get("note")
    coupon = (o.get("metadata") or {}).get("coupon")
    items = o.get("items") or []
    return {
        "orderId": o.get("id"),
        "email": email.lower() if isinstance(email, str) else email,
        "customerName": " ".join(names),
        "address": {
            "city": ship.get("city"),
            "country": country.upper() if isinstance(country, str) else country,
        },
        "skus": [i.get("sku") for i in items],
        "quantities": [i.get("quantity") for i in items],
        "total": (o.get("totals") or {}).get("total"),
        "note": note[:10] if isinstance(note, str) else note,
        "coupon": "none" if coupon is None else coupon,
    }


# The same ten fields as one JSONata expression (docs/mapping.md, "JSONata").
JSONATA = """{
  "orderId": id,
  "email": $lowercase(customer.email),
  "customerName": $join([customer.firstName, customer.lastName], " "),
  "address": {"city": shippingAddress.city, "country": $uppercase(shippingAddress.country)},
  "skus": [items.sku],
  "quantities": [items.quantity],
  "total": totals.total,
  "note": $substring(metadata.note, 0, 10),
  "coupon": $exists(metadata.coupon) ? metadata.coupon : "none"
}"""


COUNTRIES = {"gb": "United Kingdom", "fr": "France", "de": "Germany", "us": "United States"}
PARIS = ZoneInfo("Europe/Paris")

# The transform library: date, number and lookup (docs/mapping.md), and a plain field.
LIBRARY_MAPPINGS = [
    {"source": "id", "target": "orderId"},
    {
        "source": "createdAt",
        "target": "day",
        "transforms": [{"type": "date", "to": "%Y-%m-%d %H:%M", "timezone": "Europe/Paris"}],
    },
    {
        "source": "totals.total",
        "target": "total",
        "transforms": [{"type": "number", "multiply": 0.01, "decimals": 2}],
    },
    {
        "source": "items[*].unitPrice",
        "target": "prices[*]",
        "transforms": [
            {"type": "number", "multiply": 0.01, "decimals": 2, "output": "string"}
        ],
    },
    {
        "source": "shippingAddress.country",
        "target": "country",
        "transforms": [{"type": "lookup", "table": COUNTRIES, "default": "Other"}],
    },
]


def hand_written_library(o: dict[str, Any]) -> dict[str, Any]:
    """The reference for LIBRARY_MAPPINGS, as a person would write it in Python."""
    created = o.get("createdAt")
    day = None
    if isinstance(created, str):
        moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
        day = moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")
    total = (o.get("totals") or {}).get("total")
    items = o.get("items") or []
    country = (o.get("shippingAddress") or {}).get("country")
    return {
        "orderId": o.get("id"),
        "day": day,
        "total": None if total is None else round(total * 0.01, 2),
        "prices": [f"{i.get('unitPrice') * 0.01:.2f}" for i in items],
        "country": COUNTRIES.get(country, "Other"),
    }


def integration(with_js: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "bench",
        "source": {"type": "webhook"},
        "target": {"type": "http", "url": "https://example.com"},
        "mappings": [dict(m) for m in MAPPINGS],
    }
    if with_js:
        doc["condition"] = "data.type === 'order.created' || data.type === 'order.updated'"
        doc["mappings"][7] = {
            "source": "totals.total",
            "target": "total",
            "transforms": [{"type": "custom", "code": "return (value / 100).toFixed(2)"}],
        }
        doc["mappings"][6] = {
            "source": "items",
            "target": "quantity",
            "transforms": [
                {"type": "custom", "code": "return value.reduce((n, i) => n + i.quantity, 0)"}
            ],
        }
    return doc


def rate(fn: Callable[[], int], min_seconds: float = 2.0) -> float:
    """Items per second of fn (which returns how many items it did), best of 3 rounds."""
    best = 0.0
    for _ in range(3):
        done, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < min_seconds / 3:
            done += fn()
        best = max(best, done / elapsed)
    return best


def rounds(fn: Callable[[], int], n: int = 5, seconds: float = 0.6) -> list[float]:
    """Items per second of fn in each of n rounds (their spread shows a busy machine)."""
    out = []
    for _ in range(n):
        done, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            done += fn()
        out.append(done / elapsed)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=30_000, help="section 3's NDJSON lines")
    parser.add_argument("--rounds", type=int, default=7, help="section 3's rounds in turns")
    parser.add_argument("--only-lines", action="store_true", help="section 3 alone")
    args = parser.parse_args()
    if args.only_lines:
        payload_lines_section(args.orders, args.rounds)
        return
    rng = random.Random(7)
    orders = [make_order(n, rng) for n in range(1000)]
    size = sum(len(json.dumps(o)) for o in orders) / len(orders)
    print(f"order size {size:.0f} bytes; cpu affinity {sorted(os.sched_getaffinity(0))}")

    builtin_plan = Plan(parse_integration(integration(with_js=False)))
    assert builtin_plan.apply(Message(orders[0])).output == hand_written(orders[0])
    js_plan = Plan(parse_integration(integration(with_js=True)))
    assert js_plan.apply(Message(orders[1])).output["total"] == "153.13"

    def run_hand() -> int:
        for o in orders:
            hand_written(o)
        return len(orders)

    def run_plan() -> int:
        for o in orders:
            builtin_plan.apply(Message(o))
        return len(orders)

    def run_js_single() -> int:
        for o in orders[:200]:
            js_plan.apply(Message(o))
        return 200

    def run_js_batched() -> int:
        for _ in js_plan.apply_many(Message(o) for o in orders):
            pass
        return len(orders)

    library_plan = Plan(
        parse_integration(
            {
                "name": "library",
                "source": {"type": "webhook"},
                "target": {"type": "http", "url": "https://example.com"},
                "mappings": LIBRARY_MAPPINGS,
            }
        )
    )
    for o in orders[:50]:
        assert library_plan.apply(Message(o)).output == hand_written_library(o)

    def run_library_hand() -> int:
        for o in orders:
            hand_written_library(o)
        return len(orders)

    def run_library_plan() -> int:
        for o in orders:
            library_plan.apply(Message(o))
        return len(orders)

    hand = rate(run_hand)
    plan = rate(run_plan)
    # In turns, best of each, so that a busy moment on a shared machine does not decide it.
    library_hand = library = 0.0
    for _ in range(3):
        library_hand = max(library_hand, rate(run_library_hand, min_seconds=1.0))
        library = max(library, rate(run_library_plan, min_seconds=1.0))
    print("\n1. built-in mapping, 10 fields")
    print(f"   hand-written Python   {hand:12,.0f} records/s  (reference)")
    print(
        f"   compiled plan         {plan:12,.0f} records/s  ratio {plan / hand:.2f}  "
        f"(target >= 0.33)"
    )

    print("\n1b. date, number and lookup (5 fields, 10 prices)")
    print(f"   hand-written Python   {library_hand:12,.0f} records/s  (reference)")
    print(
        f"   compiled plan         {library:12,.0f} records/s  ratio {library / library_hand:.2f}  "
        f"(target >= 0.5)"
    )

    single = rate(run_js_single)
    batched = rate(run_js_batched)
    print("\n2. condition + 2 custom JavaScript transforms (V8)")
    print(f"   one call per message  {single:12,.0f} messages/s  (the worker's path)")
    print(f"   batched, 64 a call    {batched:12,.0f} messages/s  (target >= 5,000)")

    jsonata_plan = Plan(
        parse_integration(
            {
                "name": "jsonata",
                "source": {"type": "webhook"},
                "target": {"type": "http", "url": "https://example.com"},
                "jsonata": JSONATA,
                "sandbox": {"timeoutMs": 1000},
            }
        )
    )
    checked = list(jsonata_plan.apply_many(Message(o) for o in orders[:50]))
    for o, out in zip(orders[:50], checked, strict=True):
        assert out.output == hand_written(o), out

    def run_fields_batched() -> int:
        for _ in builtin_plan.apply_many(Message(o) for o in orders):
            pass
        return len(orders)

    def run_jsonata_batched() -> int:
        for _ in jsonata_plan.apply_many(Message(o) for o in orders):
            pass
        return len(orders)

    # In turns, so that both see the same moments of a busy machine.
    fields_rates: list[float] = []
    jsonata_rates: list[float] = []
    for _ in range(3):
        fields_rates += rounds(run_fields_batched, n=2)
        jsonata_rates += rounds(run_jsonata_batched, n=2)
    fields_mid, jsonata_mid = median(fields_rates), median(jsonata_rates)
    print("\n2b. the 10 fields of 1. as field mappings and as one JSONata expression")
    print(
        f"   field mappings        {fields_mid:12,.0f} records/s  "
        f"(median of 6; {min(fields_rates):,.0f} to {max(fields_rates):,.0f})"
    )
    print(
        f"   JSONata, 64 a call    {jsonata_mid:12,.0f} records/s  "
        f"(median of 6; {min(jsonata_rates):,.0f} to {max(jsonata_rates):,.0f})  "
        f"ratio {jsonata_mid / fields_mid:.3f}"
    )
    jsonata_plan.close()

    payload_lines_section(args.orders, args.rounds)
    js_plan.close()


# The reference of section 3: what a person would write without the platform, a script
# of its own (hand_written's source pasted in: importing this file would import mapper).
PLAIN_SCRIPT = """\
import json
import sys
from typing import Any

{function}

with open(sys.argv[1]) as src:
    for line in src:
        sys.stdout.write(json.dumps(hand_written(json.loads(line))) + "\\n")
"""


def payload_lines_section(n_orders: int, n_rounds: int) -> None:
    """Section 3: `python -m mapper preview --payload-lines` against the plain script, each run
    as the command a user types (start-up included), over n_orders distinct orders; rounds in
    turns (plain, mapper; then mapper, plain; ...), each round's ratio from that round's pair.
    CPU time (user + system, from the child's own rusage) is what a busy machine disturbs
    least; wall time is printed beside it."""
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        lines_path = os.path.join(tmp, "orders.ndjson")
        with open(lines_path, "w") as fh:
            for n in range(n_orders):
                fh.write(json.dumps(make_order(n, rng)) + "\n")
        config_path = os.path.join(tmp, "integration.json")
        with open(config_path, "w") as fh:
            json.dump(integration(with_js=False), fh)
        script_path = os.path.join(tmp, "plain.py")
        with open(script_path, "w") as fh:
            fh.write(PLAIN_SCRIPT.format(function=inspect.getsource(hand_written)))
        commands = {
            "plain": [sys.executable, script_path, lines_path],
            "mapper": [sys.executable, "-m", "mapper", "preview", "--config", config_path,
                       "--payload-lines", lines_path],
        }
        # Bytecode cached (in tmp, not the tree) as an installed package has it: the first
        # run of each, which checks the outputs, writes it; the rounds start from it.
        env = {**os.environ, "PYTHONPYCACHEPREFIX": os.path.join(tmp, "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        outputs = {name: _run(command, env)[2].splitlines() for name, command in commands.items()}
        assert len(outputs["plain"]) == len(outputs["mapper"]) == n_orders
        for plain, ours in zip(outputs["plain"][:1000], outputs["mapper"], strict=False):
            assert json.loads(plain) == json.loads(ours), (plain, ours)
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        wall: dict[str, list[float]] = {name: [] for name in commands}
        for n in range(n_rounds):
            for name in (list(commands) if n % 2 == 0 else list(reversed(commands))):
                seconds_cpu, seconds_wall, _ = _run(commands[name], env, keep=False)
                cpu[name].append(seconds_cpu)
                wall[name].append(seconds_wall)
        # The start-up alone: each command over an empty file, in turns as well.
        empty_path = os.path.join(tmp, "empty.ndjson")
        open(empty_path, "w").close()
        start: dict[str, list[float]] = {name: [] for name in commands}
        for n in range(n_rounds):
            for name in (list(commands) if n % 2 == 0 else list(reversed(commands))):
                command = [*commands[name][:-1], empty_path]
                start[name].append(_run(command, env, keep=False)[0])
    cpu_ratios = [p / m for p, m in zip(cpu["plain"], cpu["mapper"], strict=True)]
    wall_ratios = [p / m for p, m in zip(wall["plain"], wall["mapper"], strict=True)]
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"\n3. --payload-lines over {n_orders:,} orders (built-in mapping), each a command, "
          f"{n_rounds} rounds in turns; load average {load}")
    for name, label in (("plain", "plain Python script "), ("mapper", "python -m mapper    ")):
        print(f"   {label}  {n_orders / median(cpu[name]):12,.0f} lines/s of CPU  "
              f"{n_orders / median(wall[name]):10,.0f} lines/s of wall time  (median round)")
    print(f"   ratio, CPU time   {_spread(cpu_ratios)}  (target >= 1.5, median round)")
    print(f"   ratio, wall time  {_spread(wall_ratios)}")
    print(f"   start-up (an empty file), s of CPU: plain {_spread(start['plain'], 3)}, "
          f"mapper {_spread(start['mapper'], 3)}")


def _run(command: list[str], env: dict[str, str], keep: bool = True) -> tuple[float, float, bytes]:
    """Run a command to its end: (its CPU seconds, wall seconds, its stdout if keep)."""
    started = time.perf_counter()
    out_to = subprocess.PIPE if keep else subprocess.DEVNULL
    proc = subprocess.Popen(command, env=env, stdout=out_to)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{command} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, wall, out


def _spread(values: list[float], digits: int = 2) -> str:
    mid, low, high = (f"{v:.{digits}f}" for v in (median(values), min(values), max(values)))
    return f"{mid} (min {low}, max {high})"


if __name__ == "__main__":
    main()
