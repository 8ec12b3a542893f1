/** What the rate-limit policy decided for a request, for the policies that count it (usage). */
import { stateKey } from '../types.js';

export interface RateLimitOutcome {
  /** A limit refused the request (429); it is not counted as usage. */
  readonly refused: boolean;
}

export const RATE_LIMIT_OUTCOME = stateKey<RateLimitOutcome>('rate-limit.outcome');
