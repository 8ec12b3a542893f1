/**
 * /api/usage?application=ID[&period=day][&metric=hits][&all=true]: an application's usage per metric and
 * period, the current period only or (all=true) every past one: a time series, oldest first as the store keeps it.
 */
import type { FastifyInstance } from 'fastify';
import { PERIODS } from '../store/index.js';
import type { Period } from '../store/index.js';
import type { OpsGetter } from './api.js';
import { pageQuery, paginate } from './http.js';

export function registerUsage(app: FastifyInstance, ops: OpsGetter): void {
  app.get<{ Querystring: { application: string; period: Period; metric?: string; all?: boolean } }>(
    '/api/usage',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['application'],
          properties: { ...pageQuery, application: { type: 'string', minLength: 1 }, period: { enum: [...PERIODS], default: 'day' }, metric: { type: 'string' }, all: { type: 'boolean', default: false } },
        },
      },
    },
    async (req) => paginate(req, await ops().usage(req.query.application, { period: req.query.period, metric: req.query.metric, all: req.query.all })),
  );
}
