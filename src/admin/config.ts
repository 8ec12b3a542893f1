/** /api/config: the live config (after the last reload), every secret redacted. */
import type { FastifyInstance } from 'fastify';

export function registerConfig(app: FastifyInstance, config: () => unknown): void {
  app.get('/api/config', async () => config());
}
