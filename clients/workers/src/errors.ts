// Keybrake's error codes as classes, so a caller can `catch` what it means
// instead of comparing strings. Every error Keybrake answers carries one
// `code`; the proxy also names it in the `Keybrake-Error-Code` header,
// whatever the vendor's body shape.

export type ErrorCode =
  | "unauthorized"
  | "invalid_key"
  | "key_expired"
  | "key_revoked"
  | "key_paused"
  | "endpoint_not_allowed"
  | "vendor_mismatch"
  | "account_not_allowed"
  | "cap_exhausted"
  | "constraint_violated"
  | "rate_limited"
  | "bad_request"
  | "unpriceable_request"
  | "not_found"
  | "method_not_allowed"
  | "payload_too_large"
  | "idempotency_conflict"
  | "approval_required"
  | "approval_closed"
  | "ceiling_exceeded"
  | "forbidden"
  | "upstream_unreachable"
  | "not_configured"
  | "internal_error";

export interface ErrorDetails {
  status: number;
  message: string;
  /** The request field at fault (management API, bad input). */
  param?: string;
  /** `Keybrake-Request-Id`: the audit row of this attempt. */
  requestId?: string;
  keyId?: string;
  /** `approval_required`: the approval to wait for (`waitForApproval`). */
  approvalId?: string;
}

/** Any answer from Keybrake that is not a success. */
export class KeybrakeError extends Error {
  readonly code: ErrorCode | string;
  readonly status: number;
  readonly param?: string;
  readonly requestId?: string;
  readonly keyId?: string;
  readonly approvalId?: string;

  constructor(code: ErrorCode | string, details: ErrorDetails) {
    super(`${code}: ${details.message}`);
    this.name = new.target.name;
    this.code = code;
    this.status = details.status;
    this.param = details.param;
    this.requestId = details.requestId;
    this.keyId = details.keyId;
    this.approvalId = details.approvalId;
  }
}

/** The key's daily USD cap would be exceeded by this call (429). */
export class CapExhaustedError extends KeybrakeError {}
/** The call breaks one of the key's constraints, named in `param` (403). */
export class ConstraintViolatedError extends KeybrakeError {}
/** The key's rate limit is used up for now; retrying later helps (429). */
export class RateLimitedError extends KeybrakeError {}
/** The key's allowlist does not cover this method and path (403). */
export class EndpointNotAllowedError extends KeybrakeError {}
/** The key was revoked (401). */
export class KeyRevokedError extends KeybrakeError {}
/** The key is paused; retrying once it is resumed helps (423). */
export class KeyPausedError extends KeybrakeError {}
/** The key outlived its TTL (401). */
export class KeyExpiredError extends KeybrakeError {}
/** Not a vault key Keybrake issued (401). */
export class InvalidKeyError extends KeybrakeError {}
/** The key is for another vendor (403). */
export class VendorMismatchError extends KeybrakeError {}
/** The call names an account the key may not act for (403). */
export class AccountNotAllowedError extends KeybrakeError {}
/** Keybrake cannot price this call, so it refuses it (400). */
export class UnpriceableRequestError extends KeybrakeError {}
/** Malformed input; `param` names the field (400). */
export class BadRequestError extends KeybrakeError {}
/** Missing or wrong admin token (401). */
export class UnauthorizedError extends KeybrakeError {}
/** No such key (404). */
export class NotFoundError extends KeybrakeError {}
/** An idempotency key was reused with a different policy (409). */
export class IdempotencyConflictError extends KeybrakeError {}
/** The vendor did not answer; the call may or may not have happened (502). */
export class UpstreamUnreachableError extends KeybrakeError {}
/** An issuer token asked for a key outside its ceilings, named in `param` (403). */
export class CeilingExceededError extends KeybrakeError {}
/**
 * The call is priced above the key's `approval_above_usd` (403): a person
 * must approve approval `approvalId`; then repeat the same request.
 */
export class ApprovalRequiredError extends KeybrakeError {}
/** The approval was already decided, used or expired (409). */
export class ApprovalClosedError extends KeybrakeError {}
/** The caller may not do this (an issuer token on `/v1/issuers`) (403). */
export class ForbiddenError extends KeybrakeError {}

const byCode: Record<string, new (code: string, details: ErrorDetails) => KeybrakeError> = {
  cap_exhausted: CapExhaustedError,
  constraint_violated: ConstraintViolatedError,
  rate_limited: RateLimitedError,
  endpoint_not_allowed: EndpointNotAllowedError,
  key_revoked: KeyRevokedError,
  key_paused: KeyPausedError,
  key_expired: KeyExpiredError,
  invalid_key: InvalidKeyError,
  vendor_mismatch: VendorMismatchError,
  account_not_allowed: AccountNotAllowedError,
  unpriceable_request: UnpriceableRequestError,
  bad_request: BadRequestError,
  unauthorized: UnauthorizedError,
  not_found: NotFoundError,
  idempotency_conflict: IdempotencyConflictError,
  upstream_unreachable: UpstreamUnreachableError,
  ceiling_exceeded: CeilingExceededError,
  forbidden: ForbiddenError,
  approval_required: ApprovalRequiredError,
  approval_closed: ApprovalClosedError,
};

/** The error class for a code; unknown codes stay a plain KeybrakeError. */
export function errorFor(code: string, details: ErrorDetails): KeybrakeError {
  const Class = byCode[code] ?? KeybrakeError;
  return new Class(code, details);
}
