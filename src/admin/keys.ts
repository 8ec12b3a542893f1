/**
 * Keys: /api/applications/:id/keys (list, hints only; create, its secret answered once) and
 * /api/keys/:id (show; revoke with POST …/revoke or DELETE: it stops working within a second).
 */
import type { FastifyInstance } from 'fastify';
import type { CreateKeyOp } from '../store/operations.js';
import type { OpsGetter } from './api.js';
import { pageQuery, paginate } from './http.js';

const idParam = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } as const;

export function registerKeys(app: FastifyInstance, ops: OpsGetter): void {
  app.get<{ Params: { id: string } }>(
    '/api/applications/:id/keys',
    { schema: { params: idParam, querystring: { type: 'object', properties: pageQuery, additionalProperties: false } } },
    async (req) => paginate(req, await ops().listKeys(req.params.id)),
  );
  app.post<{ Params: { id: string }; Body: CreateKeyOp }>(
    '/api/applications/:id/keys',
    {
      schema: {
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            kind: { enum: ['api_key', 'user_key', 'app_key'], default: 'api_key' },
            label: { type: ['string', 'null'] },
            expires: { type: 'string', description: 'Expire after this long, e.g. 30d or 12h.' },
            scopes: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Scopes the routes\' auth.scopes check; absent or empty: every scope.' },
          },
        },
      },
    },
    async (req, reply) => {
      reply.code(201);
      const { credential, secret } = await ops().createKey(req.params.id, req.body ?? {});
      return { ...credential, secret };
    },
  );
  app.get<{ Params: { id: string } }>('/api/keys/:id', { schema: { params: idParam } }, async (req) => ops().showKey(req.params.id));
  const revoke = async (req: { params: { id: string } }) => ops().revokeKey(req.params.id);
  app.post<{ Params: { id: string } }>('/api/keys/:id/revoke', { schema: { params: idParam } }, revoke);
  app.delete<{ Params: { id: string } }>('/api/keys/:id', { schema: { params: idParam } }, revoke);
}
