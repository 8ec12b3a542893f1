/**
 * The control-plane store: open, migrate, and the narrow views the gateway hands the data plane (./ports.ts).
 * The data plane imports `./types.js` (the interfaces) only; the CLI, the admin API and the composition root
 * (src/gateway/) import this. The SQL implementation, one repository per entity, is in ./sql/.
 */
export { openPgPool, openStore, migrate, parseStoreUrl, redactStoreUrl } from './open.js';
export type { StoreTimeouts } from './open.js';
export { PERIODS, StoreError } from './types.js';
export type * from './types.js';
export { CONSUMER_LOOKUP, LIMIT_COUNTER_JOURNAL, OAUTH_TOKEN_STORE, USAGE_SINK, narrow } from './ports.js';
