/**
 * /api/applications: list (filters plan, service, state), create (with `withKey`, the key's secret is in the
 * answer once), show with its credentials (hints only), update (If-Match), suspend, resume, delete (with its keys).
 */
import type { FastifyInstance } from 'fastify';
import type { ApplicationFilter, CreateApplicationOp, UpdateApplicationOp } from '../store/operations.js';
import type { OpsGetter } from './api.js';
import { checkIfMatch, pageQuery, paginate } from './http.js';

const idParam = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } as const;
const state = { enum: ['active', 'suspended'] } as const;

export function registerApplications(app: FastifyInstance, ops: OpsGetter): void {
  app.get<{ Querystring: { plan?: string; service?: string; state?: ApplicationFilter['state'] } }>(
    '/api/applications',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { ...pageQuery, plan: { type: 'string' }, service: { type: 'string' }, state } } } },
    async (req) => paginate(req, await ops().listApplications({ planId: req.query.plan, serviceId: req.query.service, state: req.query.state })),
  );
  app.post<{ Body: CreateApplicationOp }>(
    '/api/applications',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['planId'],
          properties: {
            id: { type: 'string', minLength: 1 },
            planId: { type: 'string', minLength: 1 },
            name: { type: 'string' },
            serviceId: { type: 'string' },
            description: { type: 'string' },
            withKey: { type: 'boolean', description: 'Also create an API key; its secret is in this answer only.' },
            scopes: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'With withKey: the key\'s scopes, which the routes\' auth.scopes check; absent or empty: every scope.' },
          },
        },
      },
    },
    async (req, reply) => {
      reply.code(201);
      return ops().createApplication(req.body);
    },
  );
  app.get<{ Params: { id: string } }>('/api/applications/:id', { schema: { params: idParam } }, async (req) => ops().showApplication(req.params.id));
  app.patch<{ Params: { id: string }; Body: UpdateApplicationOp }>(
    '/api/applications/:id',
    {
      schema: {
        params: idParam,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name: { type: 'string' }, planId: { type: 'string', minLength: 1 }, state, description: { type: ['string', 'null'] } } },
      },
    },
    async (req) => {
      await checkIfMatch(req, () => ops().showApplication(req.params.id));
      return ops().updateApplication(req.params.id, req.body);
    },
  );
  app.delete<{ Params: { id: string } }>('/api/applications/:id', { schema: { params: idParam } }, async (req) => {
    await checkIfMatch(req, () => ops().showApplication(req.params.id));
    return ops().deleteApplication(req.params.id);
  });
  for (const [verb, to] of [['suspend', 'suspended'], ['resume', 'active']] as const) {
    app.post<{ Params: { id: string } }>(`/api/applications/:id/${verb}`, { schema: { params: idParam } }, async (req) => {
      await checkIfMatch(req, () => ops().showApplication(req.params.id));
      return ops().updateApplication(req.params.id, { state: to });
    });
  }
}
