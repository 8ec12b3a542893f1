#!/usr/bin/env node
// Runs the compiled CLI (no TypeScript loader at run time). `npm install` builds dist/ (the prepare script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('tollgate: dist/ is missing; run `npm run build` (npm install does it) first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
