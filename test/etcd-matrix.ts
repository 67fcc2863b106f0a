/**
 * The etcd version matrix of the test suite (read by vitest.config.ts).
 *
 * One switch decides which etcd, etcdctl and etcdutl a test run uses: the folder that holds them is put
 * first on PATH for every test and every process a test starts (dr itself, etcd members, etcdctl).
 *
 * - `ETCD_BIN_DIR=DIR npm test`: the whole suite against the binaries in DIR only.
 * - `npm test` (no ETCD_BIN_DIR): the whole suite against etcd 3.5 (what users run, installed by
 *   scripts/setup.sh into .tools/), and every test file that starts etcd against Debian's 3.4 as well.
 *
 * A test file "starts etcd" when it, or a test helper it imports (followed transitively), starts a member,
 * the sandbox, a restore's local members, or runs etcd/etcdctl/etcdutl. The list is computed from the
 * files themselves, so a new test that starts etcd joins the 3.4 run without being listed by hand.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Where scripts/setup.sh unpacks Debian trixie's etcd 3.5 (see ETCD35 in scripts/setup.sh). */
export const ETCD35_BIN_DIR = path.resolve('.tools/etcd-3.5.16/usr/bin');
/** Debian bookworm's etcd-server / etcd-client 3.4. */
export const ETCD34_BIN_DIR = '/usr/bin';

const STARTS_ETCD = [
  /src\/etcd\/member-process/,
  /src\/sandbox\/sandbox/,
  /src\/restore\/control\/local/,
  /\b(spawn|spawnSync|execFile|execFileSync|execFileAsync|run)\(\s*['"]etcd(ctl|utl)?['"]/,
  /['"]etcdctl['"]/,
  /\[\s*['"](sandbox|restore|daemon)['"]/,
];

const IMPORT =
  /(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function resolveLocal(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')]) {
    if (existsSync(c) && statSync(c).isFile()) return c;
  }
  return undefined;
}

function startsEtcd(file: string, seen: Map<string, boolean>): boolean {
  const known = seen.get(file);
  if (known !== undefined) return known;
  seen.set(file, false); // cycles
  const text = readFileSync(file, 'utf8');
  let result = STARTS_ETCD.some((re) => re.test(text));
  if (!result) {
    for (const m of text.matchAll(IMPORT)) {
      const dep = resolveLocal(file, m[1] ?? m[2]!);
      // only test helpers are followed: src/ modules are what is under test, not how a test starts etcd
      if (dep && dep.includes(`${path.sep}test${path.sep}`) && startsEtcd(dep, seen)) {
        result = true;
        break;
      }
    }
  }
  seen.set(file, result);
  return result;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? walk(path.join(dir, e.name))
      : e.name.endsWith('.test.ts')
        ? [path.join(dir, e.name)]
        : [],
  );
}

/** Test files (relative to the repository root) that start etcd in some way. */
export function etcdTestFiles(root = process.cwd()): string[] {
  const seen = new Map<string, boolean>();
  return walk(path.join(root, 'test'))
    .filter((f) => startsEtcd(f, seen))
    .map((f) => path.relative(root, f))
    .sort();
}

/** The environment a project's tests (and every process they start) run with. */
export function etcdEnv(binDir: string, label: string): Record<string, string> {
  return {
    PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}`,
    DR_TEST_ETCD: label,
  };
}
