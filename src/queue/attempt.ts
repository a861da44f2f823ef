import type { Clock } from '../clock.js';
import { JobError } from '../errors.js';
import type { Job } from './job.js';

/** How one attempt of a job ended: the processor's value, or why it did not give one. */
export type AttemptOutcome<R> = { readonly ok: true; readonly value: R } | { readonly ok: false; readonly error: Error };

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * Runs one attempt: `run(signal)` until it settles or the job's signal aborts — its `timeout`
 * (a {@link JobError} `JOB_TIMEOUT`, armed here), a cancel, or a close — whichever comes first.
 * An attempt that was aborted ends at once with the abort's reason; the processor may still be
 * running, and whatever it returns later is ignored (its token decides what it can still write).
 */
export async function runAttempt<R>(job: Job, controller: AbortController, clock: Clock, run: (signal: AbortSignal) => Promise<R> | R): Promise<AttemptOutcome<R>> {
  const signal = controller.signal;
  const timeout = job.opts.timeout;
  let timer: unknown;
  if (timeout !== undefined) {
    timer = clock.setTimeout(() => controller.abort(new JobError('JOB_TIMEOUT', job.id, `Job ${job.id} timed out after ${timeout} ms`)), timeout);
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(asError(signal.reason));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const value = await Promise.race([Promise.resolve().then(() => run(signal)), aborted]);
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error: asError(error) };
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
