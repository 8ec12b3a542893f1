import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOCS } from '../src/config/gen-docs.js';
import { ERRORS } from '../src/errors.js';

describe('generated docs', () => {
  for (const [file, render] of Object.entries(DOCS)) {
    it(`${file} matches the schema it is generated from (run \`npm run gen\` after changing a schema)`, () => {
      const committed = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
      expect(committed).toBe(render());
    });
  }

  it('documents every error code of the catalogue', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    for (const code of Object.keys(ERRORS)) expect(doc).toContain(`\`${code}\``);
  });
});
