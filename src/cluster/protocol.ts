/** The messages between the primary and its workers over the cluster IPC channel (JSON). */
import type { TrafficSnapshot } from './traffic.js';

/** Worker → primary. `tg-gone` is the primary's own stand-in for a worker that exited or did not answer. */
export type ToPrimary =
  | { t: 'tg-hello' }
  | { t: 'tg-listening'; url: string; adminUrl?: string }
  | { t: 'tg-staged'; gen: number; ok: boolean; error?: string }
  | { t: 'tg-committed'; gen: number }
  | { t: 'tg-traffic'; gen: number; traffic: TrafficSnapshot }
  | { t: 'tg-traffic-ask'; id: number }
  | { t: 'tg-gone' };

/** Primary → worker. */
export type ToWorker =
  | { t: 'tg-config'; text: string; name: string }
  | { t: 'tg-stage'; gen: number; text: string; name: string }
  | { t: 'tg-commit'; gen: number }
  | { t: 'tg-abort'; gen: number }
  | { t: 'tg-apply'; text: string; name: string }
  | { t: 'tg-traffic'; gen: number }
  | { t: 'tg-traffic-all'; id: number; traffic: TrafficSnapshot; workers: number };
