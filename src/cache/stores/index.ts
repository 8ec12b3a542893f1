export type { CacheHit, CacheMeta, CacheStore, CacheWriteOptions, CacheWriteStream, PurgeFilter } from './types.js';
export { CacheBodyLengthError } from './types.js';
export type { CacheStoreKind } from './types.js';
export { createMemoryStore } from './memory.js';
export { DiskStore, openDiskStore } from './disk.js';
export { openRedisStore, REDIS_DEFAULT_NAMESPACE } from './redis.js';
export type { RedisClient } from './redis.js';
export { createTieredStore } from './tiered.js';
