/** /api/services: list, create (its token shown once), show with metrics and mapping rules. */
import type { FastifyInstance } from 'fastify';
import type { OpsGetter } from './api.js';
import { pageQuery, paginate } from './http.js';

const idParam = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } as const;

export function registerServices(app: FastifyInstance, ops: OpsGetter): void {
  app.get('/api/services', { schema: { querystring: { type: 'object', properties: pageQuery, additionalProperties: false } } }, async (req) => paginate(req, await ops().listServices()));
  app.post<{ Body: { id?: string; name?: string; token?: boolean } }>(
    '/api/services',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { id: { type: 'string', minLength: 1 }, name: { type: 'string' }, token: { type: 'boolean', default: true, description: 'Generate a service token (answered once).' } },
        },
      },
    },
    async (req, reply) => {
      const { service, token } = await ops().createService(req.body ?? {});
      reply.code(201);
      return token ? { ...service, token } : service;
    },
  );
  app.get<{ Params: { id: string } }>('/api/services/:id', { schema: { params: idParam } }, async (req) => ops().showService(req.params.id));
}
