/** /api/users: list, create (the password in the body, never echoed), show by id or username. */
import type { FastifyInstance } from 'fastify';
import type { OpsGetter } from './api.js';
import { pageQuery, paginate } from './http.js';

export function registerUsers(app: FastifyInstance, ops: OpsGetter): void {
  app.get('/api/users', { schema: { querystring: { type: 'object', properties: pageQuery, additionalProperties: false } } }, async (req) => paginate(req, await ops().listUsers()));
  app.post<{ Body: { username: string; password: string; applicationId?: string | null } }>(
    '/api/users',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['username', 'password'],
          properties: { username: { type: 'string', minLength: 1 }, password: { type: 'string', minLength: 1 }, applicationId: { type: ['string', 'null'] } },
        },
      },
    },
    async (req, reply) => {
      reply.code(201);
      return ops().createUser(req.body);
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/users/:id',
    { schema: { params: { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } } },
    async (req) => ops().showUser(req.params.id),
  );
}
