"""Write-only secrets: the backends that keep them and the policy of the integration document.

    backends.py  SecretBackend (Secret Manager, a local file) and SecretResolver
    policy.py    which fields are secrets; moved out before a write, masked on reads
"""

from __future__ import annotations

from .backends import (
    SECRET_ID_PREFIX,
    LocalSecretBackend,
    SecretBackend,
    SecretManagerBackend,
    SecretResolver,
    new_secret_id,
)
from .policy import (
    credentials_left_behind,
    is_secret_ref,
    mask_secrets,
    obsolete_refs,
    secret_fields,
    secret_paths,
    secret_refs,
    store_secrets,
)

__all__ = [
    "SECRET_ID_PREFIX",
    "LocalSecretBackend",
    "SecretBackend",
    "SecretManagerBackend",
    "SecretResolver",
    "credentials_left_behind",
    "is_secret_ref",
    "mask_secrets",
    "new_secret_id",
    "obsolete_refs",
    "secret_fields",
    "secret_paths",
    "secret_refs",
    "store_secrets",
]
