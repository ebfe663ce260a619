/** A failure the sandbox explains in its message (shown without a stack trace). */
export class SandboxError extends Error {
  override name = 'SandboxError';
}
