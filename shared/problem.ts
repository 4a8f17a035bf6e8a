/**
 * A reported condition: what went wrong (errors) or deserves a look (warnings).
 * `code` is stable and documented in the README's troubleshooting table; `message` is for people.
 */
export interface Problem {
  readonly code: string;
  readonly message: string;
}

/** An error whose code is stable and whose message is safe to show (no secrets, no stack). */
export class AllowlistError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AllowlistError';
  }

  toProblem(): Problem {
    return { code: this.code, message: this.message };
  }
}

/** Turns anything thrown into a Problem without leaking stacks; unknown errors keep only their message. */
export function toProblem(error: unknown, fallbackCode = 'internal-error'): Problem {
  if (error instanceof AllowlistError) return error.toProblem();
  if (error instanceof Error) return { code: fallbackCode, message: error.message };
  return { code: fallbackCode, message: String(error) };
}
