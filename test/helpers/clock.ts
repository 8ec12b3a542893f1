/**
 * Limits are calendar-aligned (a `minute` limit resets at hh:mm:00 UTC). A test that sends N requests and
 * expects request N+1 to be refused would see a fresh minute if it straddled the boundary, and fail for no
 * fault of the gateway. So such tests first make sure at least `needMs` are left in the current minute,
 * waiting for the next minute to start when they are not.
 */
const MINUTE_MS = 60_000;

export async function awayFromMinuteBoundary(needMs = 5_000): Promise<void> {
  const left = MINUTE_MS - (Date.now() % MINUTE_MS);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 50));
}
