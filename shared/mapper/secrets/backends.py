"""Where write-only secrets are kept, and how a reference becomes a value again.

    SecretBackend            store / resolve / delete, by reference string
    ├── SecretManagerBackend Google Secret Manager; references are version resource names
    └── LocalSecretBackend   a 0600 JSON file, for the local stack only

`SecretResolver` turns references back into values (with a short cache) when a message is
processed; which fields of a document are secrets is `mapper.secrets.policy`. Errors are
`SecretError`; the subclasses below are the ones retrying cannot fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets as _random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.auth import exceptions as auth_exc

from ..engine.config import SecretRef
from ..errors import (
    InvalidSecretRef,
    SecretAccessDenied,
    SecretError,
    SecretNotFound,
)
from ..redact import register_secret

if TYPE_CHECKING:
    from google.cloud import secretmanager

try:  # POSIX only; the local backend then serialises writers across processes.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class SecretBackend(Protocol):
    """Where secret values live; a reference string names one stored value."""

    def store(self, name_hint: str, value: str) -> str:
        """Store `value` under a new name derived from `name_hint`; return its reference."""
        ...

    def resolve(self, ref: str) -> str:
        """Return the value a reference names."""
        ...

    def delete(self, ref: str) -> None:
        """Delete the stored secret a reference names."""
        ...


# Every secret we create is named `mapper-<hint>-<random>`: the fixed prefix lets an operator
# scope IAM to our secrets (a condition on resource.name) and tells them apart in the console.
SECRET_ID_PREFIX = "mapper-"
_MAX_HINT = 200  # Secret Manager allows 255 characters per id.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def sanitise(hint: str) -> str:
    return _UNSAFE.sub("-", hint).strip("-")[:_MAX_HINT]


def new_secret_id(name_hint: str) -> str:
    """A fresh secret id `mapper-<sanitised hint>-<12 hex>`, valid for Secret Manager."""
    hint = sanitise(name_hint)
    return f"{SECRET_ID_PREFIX}{hint + '-' if hint else ''}{_random.token_hex(6)}"


# --- Secret Manager -----------------------------------------------------------------------

# Strict, because the name becomes a URL path: no "..", no "%2F", no query.
_VERSION_NAME = re.compile(
    r"^projects/[a-z0-9][a-z0-9.:-]*/(?:locations/[a-z0-9-]+/)?"
    r"secrets/[A-Za-z0-9_-]+/versions/(?:[0-9]+|latest)$"
)

# Our own retry: short, because callers sit in a web request or a worker with a deadline,
# and every call (not only access) retried on the transient errors of both transports.
DEFAULT_RETRY = gretry.Retry(
    predicate=gretry.if_transient_error, initial=0.2, maximum=2.0, multiplier=2.0, timeout=10.0
)
DEFAULT_TIMEOUT = 10.0


class SecretManagerBackend:
    """Secrets in Google Secret Manager; references are `projects/P/secrets/S/versions/N`."""

    def __init__(
        self,
        client: secretmanager.SecretManagerServiceClient,
        project: str,
        *,
        retry: gretry.Retry | None = DEFAULT_RETRY,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not project:
            raise ValueError("SecretManagerBackend needs a project id")
        self._client = client
        self._project = project
        self._retry = retry
        self._timeout = timeout

    def store(self, name_hint: str, value: str) -> str:
        """Create a secret with automatic replication and one version; return the version."""
        secret_id = new_secret_id(name_hint)
        what = f"projects/{self._project}/secrets/{secret_id}"
        with _mapped(what):
            try:
                secret = self._client.create_secret(
                    request={
                        "parent": f"projects/{self._project}",
                        "secret_id": secret_id,
                        "secret": {
                            "replication": {"automatic": {}},
                            "labels": {"managed-by": "mapper"},
                        },
                    },
                    retry=self._retry,
                    timeout=self._timeout,
                )
                parent = secret.name
            except gexc.Conflict:  # AlreadyExists over gRPC, plain 409 Conflict over REST
                # The id carries 48 random bits: this is our own create, retried after its
                # answer was lost, so carry on with it.
                parent = what
            try:
                version = self._client.add_secret_version(
                    request={"parent": parent, "payload": {"data": value.encode("utf-8")}},
                    retry=self._retry,
                    timeout=self._timeout,
                )
            except BaseException:
                # Do not leave an empty secret behind; the original error is what matters.
                with contextlib.suppress(Exception):
                    self._client.delete_secret(
                        request={"name": parent}, retry=None, timeout=self._timeout
                    )
                raise
        # The service answers with the project *number*; keep its name as the reference.
        return version.name

    def resolve(self, ref: str) -> str:
        """Access the secret version `ref` and return its payload as text."""
        self._check(ref)
        with _mapped(ref):
            response = self._client.access_secret_version(
                request={"name": ref}, retry=self._retry, timeout=self._timeout
            )
        try:
            return response.payload.data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidSecretRef(f"secret {ref} does not hold UTF-8 text") from None

    def delete(self, ref: str) -> None:
        """Delete the whole secret (every version) that `ref` belongs to."""
        self._check(ref)
        secret = ref.split("/versions/", 1)[0]
        with _mapped(secret):
            self._client.delete_secret(
                request={"name": secret}, retry=self._retry, timeout=self._timeout
            )

    @staticmethod
    def _check(ref: str) -> None:
        # Refuse anything else before it reaches a URL path.
        if not isinstance(ref, str) or not _VERSION_NAME.match(ref):
            raise InvalidSecretRef(
                "a secret reference must look like projects/P/secrets/S/versions/N"
            )


@contextlib.contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Turn Google client errors into `SecretError`s that name `what`, never a value."""
    # Catch the HTTP-level classes: the REST transport raises them by status code
    # (Forbidden, BadRequest, Conflict), gRPC raises their subclasses (PermissionDenied...).
    try:
        yield
    except gexc.NotFound as exc:
        raise SecretNotFound(f"secret {what} was not found") from exc
    except (gexc.Forbidden, gexc.Unauthorized) as exc:
        raise SecretAccessDenied(f"no permission to use secret {what}") from exc
    except gexc.BadRequest as exc:
        # e.g. a malformed name, or a version that is disabled or destroyed.
        raise InvalidSecretRef(f"secret {what} cannot be used: {type(exc).__name__}") from exc
    except gexc.RetryError as exc:
        raise SecretError(f"Secret Manager kept failing for secret {what}") from exc
    except gexc.GoogleAPIError as exc:
        raise SecretError(f"Secret Manager failed for secret {what}: {type(exc).__name__}") from exc
    except (auth_exc.GoogleAuthError, OSError) as exc:
        # OSError covers requests' connection errors on the REST transport.
        raise SecretError(f"cannot reach Secret Manager for secret {what}") from exc


# --- local stack --------------------------------------------------------------------------

_LOCAL_PREFIX = "local-secrets/"
_LOCAL_NAME = re.compile(r"^local-secrets/[A-Za-z0-9_-]+$")


class LocalSecretBackend:
    """LOCAL STACK ONLY: plain-text values in a 0600 JSON file `{"local-secrets/<id>": value}`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    def store(self, name_hint: str, value: str) -> str:
        """Add `value` under a new `local-secrets/<id>` name and return that name."""
        ref = _LOCAL_PREFIX + new_secret_id(name_hint)
        with self._locked():
            data = self._read()
            data[ref] = value
            self._write(data)
        return ref

    def resolve(self, ref: str) -> str:
        """Return the value stored under `ref`."""
        self._check(ref)
        value = self._read().get(ref)
        if not isinstance(value, str):
            raise SecretNotFound(f"secret {ref} was not found")
        return value

    def delete(self, ref: str) -> None:
        """Remove `ref` from the file."""
        self._check(ref)
        with self._locked():
            data = self._read()
            if data.pop(ref, None) is None:
                raise SecretNotFound(f"secret {ref} was not found")
            self._write(data)

    @staticmethod
    def _check(ref: str) -> None:
        if not isinstance(ref, str) or not _LOCAL_NAME.match(ref):
            raise InvalidSecretRef("a local secret reference must look like local-secrets/<id>")

    def _read(self) -> dict[str, Any]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretError(f"cannot read the local secrets file {self._path}") from exc
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            raise SecretError(f"the local secrets file {self._path} is not JSON") from None
        if not isinstance(data, dict):
            raise SecretError(f"the local secrets file {self._path} is not a JSON object")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        # Write a 0600 temporary file and rename it over the old one, so that a reader
        # never sees half a file and the values are never readable by other users.
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=self._path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # The API and the worker may run as separate local processes.
        if fcntl is None:
            yield
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self._path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


# --- resolving at run time ----------------------------------------------------------------

DEFAULT_TTL_SECONDS = 300.0


class SecretResolver:
    """Turn secret fields into values, caching each reference for `ttl_seconds` (default 300).

    References name a fixed version whose value never changes, so the TTL only bounds how
    long a disabled or deleted secret keeps working in a warm instance (and how stale a
    `versions/latest` reference may be): five minutes, against one Secret Manager call per
    message otherwise. Every value resolved is registered with `mapper.redact` so that logs
    never show it.
    """

    def __init__(
        self,
        backend: SecretBackend,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must be >= 0")
        self._backend = backend
        self._ttl = ttl_seconds
        self._clock = clock
        # ref -> (value, expiry). Races between threads only cost a second fetch.
        self._cache: dict[str, tuple[str, float]] = {}

    def resolve(self, value: str | SecretRef | Mapping[str, Any]) -> str:
        """A reference (`SecretRef`, `{"secret": name}`) resolved; plain values as they are.

        A plain string is returned as is and a plain object (service account credentials
        not yet stored, e.g. in a preview) as its JSON text.
        """
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping) and not looks_like_ref(value):
            return json.dumps(value, separators=(",", ":"), sort_keys=True)
        ref = ref_name(value)
        if ref is None:
            raise InvalidSecretRef('a secret field must be a string or {"secret": name}')
        now = self._clock()
        hit = self._cache.get(ref)
        if hit is not None and hit[1] > now:
            return hit[0]
        resolved = self._backend.resolve(ref)
        register_secret(resolved)
        if self._ttl > 0:
            self._cache[ref] = (resolved, now + self._ttl)
        return resolved

    def forget(self, ref: str | None = None) -> None:
        """Drop one cached reference, or all of them."""
        if ref is None:
            self._cache.clear()
        else:
            self._cache.pop(ref, None)


def ref_name(value: Any) -> str | None:
    """The reference held by `SecretRef` or `{"secret": name}`, else None."""
    if isinstance(value, SecretRef):
        return value.secret
    if isinstance(value, Mapping):
        name = value.get("secret")
        return name if isinstance(name, str) and name else None
    return None


def looks_like_ref(value: Any) -> bool:
    """True for what a client sends back from a read (`{"secret": ...}`), valid or not."""
    # What a client sends back from a read, valid or not; never mistaken for credentials.
    return isinstance(value, Mapping) and bool(value) and set(value) <= {"secret", "set"}
