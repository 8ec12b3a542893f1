/** The `docs` config block: the consumer-facing API docs on the proxy listener. */
import { z } from 'zod';

export const docsSchema = z
  .strictObject({
    public: z
      .boolean()
      .default(false)
      .describe('Also serve the API docs (Swagger UI and the OpenAPI document of the proxied routes, no admin endpoints) on the proxy listener at `path`, ahead of the routes. The admin listener always serves them at /docs and /openapi.json.'),
    path: z
      .string()
      .regex(/^(\/[A-Za-z0-9._~-]+)+$/, 'expected a path like /docs (no trailing slash)')
      .default('/docs')
      .describe('Where the public docs are served: the page at `path`, its document at `path`/openapi.json, its assets under `path`/assets/. No route may match these paths (`tollgate check` names the one that does).'),
  })
  .prefault({})
  .describe('Generated API docs (OpenAPI 3.1 with Swagger UI) for API consumers.');
