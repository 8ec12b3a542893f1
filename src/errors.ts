/**
 * The one error catalogue. Every error a client can see has a stable code, an HTTP status and a
 * readable message, and goes out in one JSON shape: {"error": message, "code": code, "requestId": id}.
 * docs/errors.md is generated from this table (npm run gen) and a test fails when it drifts.
 */
export const ERRORS = {
  TG_NOT_FOUND: { status: 404, message: 'No route matches this request.' },
  TG_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed on this route.' },
  TG_BAD_REQUEST: { status: 400, message: 'Bad request.' },
  TG_BAD_PATH: { status: 400, message: 'Request target is not allowed.' },
  TG_BAD_HEADER: { status: 400, message: 'Request headers are not allowed.' },
  TG_REQUEST_TIMEOUT: { status: 408, message: 'The request was not sent in time.' },
  TG_NOT_ACCEPTABLE: { status: 406, message: 'None of the media types this route answers with is acceptable to the client.' },
  TG_BODY_TOO_LARGE: { status: 413, message: 'Request body is larger than this route accepts.' },
  TG_URI_TOO_LONG: { status: 414, message: 'Request URI is too long.' },
  TG_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body is in a media type this route does not accept.' },
  TG_HEADERS_TOO_LARGE: { status: 431, message: 'Request headers are too large.' },
  TG_VALIDATION_FAILED: { status: 400, message: 'Request parameters are invalid.' },
  TG_AMBIGUOUS_CREDENTIALS: { status: 400, message: 'The request carries more than one credential where one is expected; send exactly one.' },
  TG_UNAUTHORIZED: { status: 401, message: 'Missing or invalid credentials.' },
  TG_FORBIDDEN: { status: 403, message: 'Access denied.' },
  TG_RATE_LIMITED: { status: 429, message: 'Rate limit exceeded.' },
  TG_UPSTREAM_ERROR: { status: 502, message: 'The upstream refused, reset or sent an invalid response.' },
  TG_UPSTREAM_TIMEOUT: { status: 504, message: 'The upstream did not answer in time.' },
  TG_SHUTTING_DOWN: { status: 503, message: 'The gateway is shutting down.' },
  TG_STORE_UNAVAILABLE: { status: 503, message: 'The consumer store cannot be reached right now.' },
  TG_LIMITS_UNAVAILABLE: { status: 503, message: 'Rate limits cannot be checked right now; try again shortly.' },
  TG_ADMIN_UNAUTHORIZED: { status: 401, message: 'The admin API needs `Authorization: Bearer <admin token>` (admin.token or TOLLGATE_ADMIN_TOKEN).' },
  TG_CONFLICT: { status: 409, message: 'The resource already exists or conflicts with another.' },
  TG_PRECONDITION_FAILED: { status: 412, message: 'If-Match does not match the current ETag: the resource changed since it was read.' },
  TG_RESOURCE_NOT_FOUND: { status: 404, message: 'No record has this key.' },
  TG_RESOURCE_INVALID: { status: 400, message: 'The record is invalid; `fields` says what is wrong with each field.' },
  TG_RESOURCE_CONFLICT: { status: 409, message: 'Another record already has one of these unique values.' },
  TG_RESOURCE_MEDIA_TYPE: { status: 415, message: 'Resource routes take JSON bodies (Content-Type: application/json).' },
  TG_INTERNAL: { status: 500, message: 'Internal gateway error.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error meant for the client: the pipeline turns it into the catalogue's JSON shape. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string> | undefined;
  constructor(code: ErrorCode, message?: string, opts?: { status?: number; headers?: Record<string, string>; cause?: unknown }) {
    super(message ?? ERRORS[code].message, opts?.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'GatewayError';
    this.code = code;
    this.status = opts?.status ?? ERRORS[code].status;
    this.headers = opts?.headers;
  }
}

/** The JSON body of an error. `error` stays a readable string: existing clients (netmetr) read it. */
export function errorBody(code: string, message: string, requestId: string | undefined): string {
  return JSON.stringify(requestId ? { error: message, code, requestId } : { error: message, code });
}
