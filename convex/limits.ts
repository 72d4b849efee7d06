// Every limit the Convex side enforces, named once. The Rust service enforces
// the same numbers before it forwards anything; a Rust test reads this file's
// text and compares them, so keep each one as `export const NAME = <integer>;`
// on one line (plain integer literal, no underscores).

/** Most events one `ingest:applyBatch` call takes (and at least 1); more throws. */
export const MAX_BATCH = 500;
/** Longest `eventId`, in characters; longer (or empty) is `invalid_event`, with no receipt. */
export const EVENT_ID_MAX = 200;
/** Longest `placement.notes`, in characters; longer is `placement_out_of_range`. */
export const PLACEMENT_NOTES_MAX = 1000;
/** Most rows in one page of a paged read (ledger.ts); a page asking for more gets this many. */
export const READ_PAGE_MAX = 256;
/** Most cameras `ledger:sessionHeader` answers for one session (and `ledger:device` for one device). */
export const CAMERAS_READ_MAX = 1000;
/** Longest `reason` of a retire_device / replace_camera_device, in characters; longer is `invalid_event`. */
export const REPAIR_REASON_MAX = 500;
/** Longest `label` of a rename_device, in characters (at least 1); otherwise `invalid_event`. */
export const DEVICE_LABEL_MAX = 200;
