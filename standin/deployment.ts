// What a real Convex deployment answers when it is not simply "running", for
// the stand-in's switchable deployment states (tests only: see the README,
// "Fault injection"). Every message, code and status below is copied from the
// open-source backend (github.com/get-convex/convex-backend, main as of
// 2026-08); the file and item each one comes from is named beside it.

export const DEPLOYMENT_STATES = [
  "running",
  "paused",
  "over_limits",
  "functions_missing",
  "forbidden_internal",
  "incompatible",
] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

export function isDeploymentState(s: unknown): s is DeploymentState {
  return typeof s === "string" && (DEPLOYMENT_STATES as readonly string[]).includes(s);
}

/** crates/udf/src/validation.rs, `PAUSED_ERROR_MESSAGE` (a JsError from `fail_while_not_running`). */
export const PAUSED_ERROR_MESSAGE =
  "Cannot run functions while this deployment is paused. Resume the deployment in the dashboard " +
  "settings to allow functions to run.";

/** crates/udf/src/validation.rs, `DISABLED_ERROR_MESSAGE_FREE_PLAN` (a JsError from `fail_while_not_running`). */
export const DISABLED_ERROR_MESSAGE_FREE_PLAN =
  "You have exceeded the free plan limits, so your deployments have been disabled. Please upgrade " +
  "to a Pro plan or reach out to us at support@convex.dev for help.";

/**
 * crates/udf/src/validation.rs, `missing_or_internal_error`, as a JsError (an
 * ordinary function error). This is the text of the releases before
 * 2026-03-25 (backend commit 0fcfb1c9e "hide --yes" shortened it to
 * "... Did you forget to run `npx convex dev`?"; since 2026-06-04, commit
 * c1fdb946b, it reads "Could not find public function for '<path>'." and is,
 * by default, no function error at all: see `notFoundError`). Match on the
 * prefix "Could not find public function for '".
 */
export function notFoundMessage(displayPath: string): string {
  return (
    `Could not find public function for '${displayPath}'. ` +
    "Did you forget to run `npx convex dev` or `npx convex deploy`?"
  );
}

/**
 * An error that is not a function's error: the backend fails the request
 * itself (`anyhow::bail!(ErrorMetadata::…)`). Over HTTP it is answered with
 * `status` and `{"code", "message"}` (crates/common/src/http/mod.rs,
 * `HttpResponseError`); on the sync socket it ends the connection
 * (crates/local_backend/src/subs/mod.rs, `run_sync_socket`): a
 * deterministic user error (Forbidden, BadRequest, …) is first reported as
 * `FatalError {error: message}`, the others are not reported at all; then the
 * socket is closed with `closeCode` and the short code as reason
 * (crates/errors/src/lib.rs, `ErrorMetadata::close_frame`).
 */
export interface SystemError {
  status: number;
  code: string;
  message: string;
  fatal: boolean;
  closeCode: number;
}

/**
 * The current backend's answer to a missing function (and to an internal one
 * named by a non-admin caller) when its knob `UDF_404_ON_BAD_PATH` is on, its
 * default since 2026-06-04: `ErrorMetadata::not_found("FunctionPathNotFound",
 * "Could not find public function for '<path>'.")` (crates/udf/src/validation.rs,
 * `missing_or_internal_error`; crates/common/src/knobs.rs). NotFound is not a
 * deterministic user error: no FatalError, the socket is closed with 1000.
 */
export function notFoundError(displayPath: string): SystemError {
  return {
    status: 404,
    code: "FunctionPathNotFound",
    message: `Could not find public function for '${displayPath}'.`,
    fatal: false,
    closeCode: 1000,
  };
}

/** The same knob's answer to a function called as the wrong kind (`ValidatedPathAndArgs::new_inner`). */
export function wrongTypeError(message: string): SystemError {
  return { status: 404, code: "FunctionPathWrongType", message, fatal: false, closeCode: 1000 };
}

/**
 * A deploy key whose role lacks the operation (crates/roles/src/eval.rs,
 * `RequireDeploymentOp::require_operation`, called from
 * crates/udf/src/validation.rs `check_visibility_access` for internal
 * functions): `ErrorMetadata::forbidden("OperationNotPermitted", …)`, the
 * operation named by its RoleStatementAction serialization
 * (crates/roles/src/types.rs). Forbidden is a deterministic user error:
 * FatalError, then close 1000 "OperationNotPermitted"; HTTP 403.
 */
export function forbiddenInternalError(kind: "query" | "mutation" | "action"): SystemError {
  const op = { query: "runInternalQueries", mutation: "runInternalMutations", action: "runInternalActions" }[kind];
  return {
    status: 403,
    code: "OperationNotPermitted",
    message: `You do not have permission to perform this operation (deployment:functions:${op}).`,
    fatal: true,
    closeCode: 1000,
  };
}

/** How much the `incompatible` state adds to `contract:handshake`'s `contractVersion`. */
export const INCOMPATIBLE_CONTRACT_OFFSET = 1000;
