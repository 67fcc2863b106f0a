#!/usr/bin/env node
// Writes docs/config-options.md from the config schema, using the compiled code in dist/ (run
// `npm run build` first). Without a build, the test does the same:
//   UPDATE_DOCS=1 npx vitest run test/config/docs.test.ts
// `--check` exits 1 when the committed file is stale instead of writing it.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'docs', 'config-options.md');
const compiled = path.join(root, 'dist', 'config', 'docs.js');

let renderConfigDocs;
try {
  ({ renderConfigDocs } = await import(pathToFileURL(compiled).href));
} catch (err) {
  console.error(`gen-config-docs: cannot load ${compiled} (${err.code ?? err.message}); run npm run build first`);
  process.exit(2);
}

const generated = renderConfigDocs();
if (process.argv.includes('--check')) {
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current !== generated) {
    console.error(`gen-config-docs: ${path.relative(root, target)} is stale; run node scripts/gen-config-docs.mjs`);
    process.exit(1);
  }
  console.log(`gen-config-docs: ${path.relative(root, target)} is up to date`);
} else {
  await writeFile(target, generated);
  console.log(`gen-config-docs: wrote ${path.relative(root, target)}`);
}
