/**
 * Bundles the built CLI (dist/cli/main.js, from tsc) into dist/cli/dr.js with rolldown: the `dr` bin.
 *
 * Why: a `dr` run spent 0.3-0.5 s of CPU resolving and reading ~1,500 small module files before doing
 * anything (docs/benchmarks.md, "Start-up"); the bundle is one file per command's module graph. Each
 * command's code stays in its own chunk, loaded only when that command runs, as in dist/cli/main.js.
 *
 * Every chunk lands in dist/cli/ itself, beside dr.js, so that paths the code computes from its own
 * location (package.json, the vendored protos, the worker files) are the same as for dist/cli/*.js. The
 * two worker scripts are entries of their own under the names the code asks for. Native modules stay
 * outside the bundle and load from node_modules.
 */
import { readdirSync, rmSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { build } from 'rolldown';

const out = path.resolve('dist/cli');
// chunks of an earlier bundle (their names carry a hash, so they would otherwise pile up)
for (const f of readdirSync(out)) if (f.startsWith('dr-') && f.endsWith('.js')) rmSync(path.join(out, f));

await build({
  input: {
    dr: 'dist/cli/main.js',
    'db-audit-worker': 'dist/audit/db-audit-worker.js',
    'offline-hash-worker': 'dist/restore/offline-hash-worker.js',
  },
  platform: 'node',
  external: [/^node:/, 'better-sqlite3', 'zstd-napi', /^zstd-napi\//, /^@node-rs\/crc32/],
  logLevel: 'warn',
  output: {
    dir: out,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: 'dr-[name]-[hash].js',
    sourcemap: false,
  },
});
chmodSync(path.join(out, 'dr.js'), 0o755);
