import { z } from 'zod';
import { PERIODS } from '../../store/types.js';

const WINDOWS = ['second', ...PERIODS] as const;

const routeLimitSchema = z
  .strictObject({
    metric: z.string().default('hits').describe('Metric counted (hits, or one a mapping rule increments).'),
    per: z.enum(WINDOWS).describe('Window, aligned to the clock and calendar in UTC (minute: hh:mm:00; day: 00:00; week: Monday; month: the 1st).'),
    max: z.number().int().min(0).describe('Most units per window.'),
    by: z.enum(['consumer', 'ip']).default('consumer').describe('Count per consumer (falls back to client IP when no auth policy ran) or per client IP.'),
  })
  .describe('A route-level limit, on top of the plan.');

export const rateLimitSchema = z
  .strictObject({
    plan: z.boolean().default(true).describe("Enforce the consumer's plan (limits per metric per period, and throttles)."),
    limits: z.array(routeLimitSchema).default([]).describe('Limits of this route, per consumer or per client IP.'),
    headers: z.boolean().default(true).describe('Send RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers) for the tightest limit.'),
    legacyHeaders: z.boolean().default(false).describe('Also send X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset.'),
    failOpen: z.boolean().default(true).describe('When the limiter store (Redis) is unreachable or slower than `redis.timeout`, let requests through (with a warning logged at most every 10 s) instead of answering 503 `TG_LIMITS_UNAVAILABLE` with Retry-After. Either way counting resumes by itself when Redis is back.'),
  })
  .describe('Enforces plan limits and route limits: 429 with Retry-After when a limit is reached.');

export type RateLimitOptions = z.output<typeof rateLimitSchema>;
export type RouteLimit = z.output<typeof routeLimitSchema>;

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const rateLimitInfo = {
  name: 'rate-limit',
  description: "Enforces the consumer's plan limits and throttles, and route limits per consumer or IP; 429 with Retry-After.",
  priority: 900,
  schema: rateLimitSchema,
} as const;
