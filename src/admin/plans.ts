/** /api/plans: list, create or replace (PUT), show. */
import type { FastifyInstance } from 'fastify';
import { PERIODS } from '../store/index.js';
import type { PlanInput } from '../store/index.js';
import type { OpsGetter } from './api.js';
import { checkIfMatch, pageQuery, paginate } from './http.js';

const idParam = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } as const;
const planBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    serviceId: { type: ['string', 'null'] },
    limits: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['period', 'max'], properties: { metric: { type: 'string', default: 'hits' }, period: { enum: [...PERIODS] }, max: { type: 'integer', minimum: 0 } } },
    },
    throttles: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['per', 'max'], properties: { metric: { type: 'string', default: 'hits' }, per: { enum: ['second', 'minute'] }, max: { type: 'integer', minimum: 0 } } },
    },
  },
} as const;

export function registerPlans(app: FastifyInstance, ops: OpsGetter): void {
  app.get('/api/plans', { schema: { querystring: { type: 'object', properties: pageQuery, additionalProperties: false } } }, async (req) => paginate(req, await ops().listPlans()));
  app.post<{ Body: PlanInput }>(
    '/api/plans',
    { schema: { body: { ...planBody, required: ['id'], properties: { ...planBody.properties, id: { type: 'string', minLength: 1 } } } } },
    async (req, reply) => {
      reply.code(201);
      return ops().upsertPlan(req.body);
    },
  );
  app.put<{ Params: { id: string }; Body: Omit<PlanInput, 'id'> }>('/api/plans/:id', { schema: { params: idParam, body: planBody } }, async (req) => {
    await checkIfMatch(req, () => ops().showPlan(req.params.id));
    return ops().upsertPlan({ ...req.body, id: req.params.id });
  });
  app.get<{ Params: { id: string } }>('/api/plans/:id', { schema: { params: idParam } }, async (req) => ops().showPlan(req.params.id));
}
