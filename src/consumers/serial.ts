/**
 * Runs an async job one call at a time, in call order: a flush started while the previous one is still
 * writing waits for it, so a slow store never sees two batches of the same counters at once. A failed run
 * does not stop the next one.
 */
export function serialized(job: () => Promise<void>): () => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  return () => {
    const run = tail.then(job);
    tail = run.catch(() => undefined);
    return run;
  };
}
