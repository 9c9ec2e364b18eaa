"""Failed sign-ins counted across api instances, on the Firestore emulator (mapper.access)."""

from __future__ import annotations

from google.cloud import firestore

from mapper.access import Access, FailureLimiter, Refusal
from mapper.keys import BOOTSTRAP, Keys
from mapper.store.team import SignInFailureStore
from tests.fakes import Clock, FakeKeyStore

ADDRESS = "203.0.113.7"
WRONG = "Bearer not-the-token"


def instance(store: SignInFailureStore, clock: Clock) -> Access:
    """One api instance: its own memory, the shared Firestore count."""
    limiter = FailureLimiter(4, 60, clock=clock, shared=store, wall_clock=clock)
    return Access(Keys(FakeKeyStore(), clock=clock), limiter)


def status(access: Access, authorization: str, address: str = ADDRESS) -> int:
    answer = access.authenticate(authorization, address, "boot", "GET /api/")
    return answer.status if isinstance(answer, Refusal) else 200


def test_failures_are_counted_per_address_and_window_under_a_hashed_name(
    db: firestore.Client,
) -> None:
    store = SignInFailureStore(db)
    for _ in range(3):
        store.add(ADDRESS, 100)
    store.add(ADDRESS, 101)
    store.add("198.51.100.1", 101)
    assert store.count(ADDRESS, (100, 101)) == 4
    assert store.count(ADDRESS, (101, 102)) == 1
    assert store.count("192.0.2.1", (100, 101)) == 0
    names = [doc.id for doc in db.collection("signInFailures").stream()]
    assert len(names) == 3 and not any(ADDRESS in name for name in names)


def test_spreading_guesses_over_instances_does_not_multiply_the_limit(
    db: firestore.Client,
) -> None:
    clock = Clock(start=60 * 1_000_000 + 5)  # 5 s into a window
    store = SignInFailureStore(db)
    first, second, third = (instance(store, clock) for _ in range(3))

    assert [status(first, WRONG), status(first, WRONG), status(second, WRONG)] == [401] * 3
    # 3 of 4 counted in all: one more anywhere reaches the limit, and every instance that
    # saw this address fail refuses it, even with the right token.
    assert status(third, WRONG) == 401
    assert status(first, "Bearer boot") == 429
    assert status(second, "Bearer boot") == 429
    assert status(third, "Bearer boot") == 429
    assert status(second, "Bearer boot", "198.51.100.1") == 200  # other addresses go on

    clock.advance(30)
    assert status(first, "Bearer boot") == 429
    clock.advance(90)  # past both windows: forgotten everywhere
    assert first.authenticate("Bearer boot", ADDRESS, "boot", "GET /api/") is BOOTSTRAP
    assert status(third, "Bearer boot") == 200
