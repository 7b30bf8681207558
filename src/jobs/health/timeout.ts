/** Raised when a check did not finish within its time limit. */
export class CheckTimeoutError extends Error {
  override name = 'CheckTimeoutError';
}

/**
 * Runs `work` with an abort signal and rejects with CheckTimeoutError after
 * `timeoutMs`, whether or not `work` honours the signal. A target that never
 * replies therefore costs at most `timeoutMs`, and the other checks of the
 * same run go on in parallel.
 */
export async function withTimeout<T>(label: string, timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new CheckTimeoutError(`${label} timed out after ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
