/**
 * A token replaced (or revoked) on this instance is refused at once: the token endpoint awaits the
 * directory's refresh() after its write, and refresh() must then poll after the write even when a poll that
 * read the change log before it is still running (before, it returned that poll, and the old token kept
 * working until the next one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createConsumerDirectory } from '../../src/consumers/directory.js';
import type { ConsumerDirectory } from '../../src/consumers/directory.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/index.js';

let dir: string | undefined;
let store: Store | undefined;
let directory: ConsumerDirectory | undefined;
afterEach(async () => {
  await directory?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('refresh() after a write sees it, even while an earlier poll is still running', async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-refresh-'));
  const s = (store = await openStore(`sqlite:${join(dir, 's.db')}`));
  await s.upsertPlan({ id: 'p' });
  await s.createApplication({ id: 'a', planId: 'p' });
  const { credential } = await s.createCredential('a', { kind: 'oauth2_client', clientType: 'confidential', clientId: 'c' });
  const later = new Date(Date.now() + 3_600_000);
  await s.saveOAuthToken({ accessToken: 'tgo_first-token-value', credentialId: credential.id, userId: null, scopes: [], accessExpiresAt: later });

  // The same store, with a change-log read that can be held (a slow store) after it has read.
  let release: () => void = () => undefined;
  let gate: Promise<void> | undefined;
  const slow = new Proxy(s, {
    get(target, prop) {
      if (prop === 'changesSince') {
        return async (cursor: number) => {
          const set = await target.changesSince(cursor);
          if (gate) await gate;
          return set;
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  directory = await createConsumerDirectory(slow, { refreshMs: 60_000 });
  expect(await directory.lookupToken('tgo_first-token-value')).toBeDefined();

  gate = new Promise<void>((r) => (release = r));
  const early = directory.refresh(); // reads the change log now, before the write below
  await new Promise((r) => setTimeout(r, 20));
  await s.saveOAuthToken({ accessToken: 'tgo_second-token-value', credentialId: credential.id, userId: null, scopes: [], accessExpiresAt: later });
  const after = directory.refresh();
  gate = undefined;
  release();
  await early;
  await after;
  expect(await directory.lookupToken('tgo_first-token-value')).toBeUndefined();
  expect(await directory.lookupToken('tgo_second-token-value')).toBeDefined();
});
