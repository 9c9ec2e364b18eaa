// The run's vocabulary in the UI: its statuses, the groups of them the UI acts on and where
// a run came from. The one home of these names in the UI; shared/mapper/pipeline/runs.py is
// their home on the server.

/**
 * `RunStatus` (in its order), `TERMINAL`, `REDRIVABLE` and `SourceKind` of
 * shared/mapper/pipeline/runs.py. Kept as one JSON literal so that
 * tests/unit/test_ui_run_vocabulary.py can read it without a browser and hold it to that
 * module: a status or source kind added on the server but not here fails the test.
 */
export const RUN_VOCABULARY = {
  "statuses": ["queued", "delivering", "success", "error", "skipped", "partial", "retrying",
    "dead_lettered", "held"],
  "terminal": ["success", "error", "skipped", "partial", "dead_lettered"],
  "redrivable": ["dead_lettered", "error", "partial"],
  "sourceKinds": ["webhook", "pubsub-push", "pubsub-pull", "test", "replay"]
};

/** Every status, in the order the filters offer them. */
export const RUN_STATUSES = Object.freeze([...RUN_VOCABULARY.statuses]);
/** Each status by name, as the server's enum names it: `STATUS.DEAD_LETTERED`. */
export const STATUS = Object.freeze(Object.fromEntries(
  RUN_STATUSES.map((status) => [status.toUpperCase(), status])));
/** The statuses of a run that has ended: polling stops there. */
export const FINAL_STATUSES = Object.freeze(new Set(RUN_VOCABULARY.terminal));
/** What a bulk redrive may send again, in the order Redrive offers them. */
export const REDRIVE_STATUSES = Object.freeze([...RUN_VOCABULARY.redrivable]);
/** How a run's message reached the platform (the run's `sourceKind`). */
export const SOURCE_KINDS = Object.freeze([...RUN_VOCABULARY.sourceKinds]);
