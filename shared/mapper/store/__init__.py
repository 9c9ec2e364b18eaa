"""Firestore storage: the adapters behind the ports of `mapper.pipeline.ports`. The client is
passed in, never made here.

    common.py         pages and cursors, Google's errors as ours, JSON size limits
    indexes.py        the composite indexes and exemptions the queries need (infra/firestore.tf)
    integrations.py   integrations/{id} and its versions/{n}, as the API shows them
    runs.py           runs/{id}: one run per incoming message, its id the idempotency key
    team.py           apiKeys, auditLog, signInFailures
    jobs.py           pullState, signatureFailures, redriveJobs
    shapes.py         sourceShapes (source_schema), dedupeKeys (source.dedupe)

Google's errors leave these modules as `StoreError` (retryable), except those that say
something about the document itself: `NotFoundError`, `ConflictError`, or `ConfigError` when
Firestore refuses an integration. A run's payload fields are stored as JSON text, see
`RunStore`.
"""
