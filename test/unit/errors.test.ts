// Every error code is documented in docs/errors.md, and every documented code exists.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ErrorCodes } from '../../src/errors.ts';

test('docs/errors.md documents exactly the codes in src/errors.ts', async () => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(documented, Object.keys(ErrorCodes).sort());
});
