/**
 * Layering rules for src/, run by `npm run lint` (`depcruise src`). The floors follow the README's
 * Development section: a module imports from its own floor or below, never above.
 *
 *   0  core, types                                       errors, logger, clock, redaction, safe files
 *   1  formats, retention, metrics                       pure parsers, pure retention, metric definitions
 *   2  etcd, storage, manifest, catalog, crypto          talking to etcd, backends, the manifest, the catalog, age
 *   3  pipeline, config, sandbox, diff                   the data path, the config, the sandbox cluster
 *   4  jobs, restore, audit, inspect, drill, revlog,     units of work over the floors below
 *      replay
 *   5  daemon, http, cli                                 the edges: the only ones that own the process
 *
 * Besides: no cycles (type-only imports count: a cycle of types is still two files that must change
 * together), and the pure modules (formats, retention, the restore planner) import no I/O.
 */
const FLOORS = [
  ['core', 'types'],
  ['formats', 'retention', 'metrics'],
  ['etcd', 'storage', 'manifest', 'catalog', 'crypto'],
  ['pipeline', 'config', 'sandbox', 'diff'],
  ['jobs', 'restore', 'audit', 'inspect', 'drill', 'revlog', 'replay'],
  ['daemon', 'http', 'cli'],
];

const folders = (names) => `^src/(${names.join('|')})/`;

/**
 * Imports that break a rule today in files other branches are rewriting. TEMPORARY: each entry is one
 * known violation, allowed until its owner's branch lands and it is fixed; shrink this list, never grow it.
 */
const TEMPORARY_LAYERING_EXEMPTIONS = [];

/**
 * A rule minus one exempted (from, to) pair, as two rules: every other source under the rule, and the
 * exempted source under it for every other target (dependency-cruiser's from/to filters are independent).
 */
function withoutPair(rule, pair) {
  const not = (existing, re) => (existing ? [].concat(existing, re) : re);
  return [
    { ...rule, from: { ...rule.from, pathNot: not(rule.from.pathNot, pair.from) } },
    {
      ...rule,
      from: { ...rule.from, path: pair.from },
      to: { ...rule.to, pathNot: not(rule.to.pathNot, pair.to) },
    },
  ];
}

const exempt = (rule) =>
  TEMPORARY_LAYERING_EXEMPTIONS.filter((pair) => pair.rule === rule.name).reduce(
    (rules, pair) => rules.flatMap((r) => withoutPair(r, pair)),
    [rule],
  );

const floorRules = FLOORS.slice(0, -1).flatMap((names, i) =>
  exempt({
    name: `floor-${i}-no-upward-import`,
    comment: `${names.join(', ')} (floor ${i}) must not import from a higher floor`,
    severity: 'error',
    from: { path: folders(names) },
    to: { path: folders(FLOORS.slice(i + 1).flat()) },
  }),
);

/** Modules that perform I/O: files, sockets, processes, threads, and the project's own I/O layers. */
const IO_CORE_MODULES = [
  'fs',
  'fs/promises',
  'net',
  'tls',
  'dgram',
  'http',
  'https',
  'http2',
  'child_process',
  'cluster',
  'worker_threads',
  'readline',
  'os',
  'process',
];
const IO_MODULES = `^(node:)?(${IO_CORE_MODULES.join('|')})$`;
const IO_PROJECT = '^src/(storage|etcd|catalog|sandbox|daemon|http|cli)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Two modules that import each other (directly or around a loop) cannot be understood apart.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...floorRules,
    {
      name: 'pure-modules-no-io',
      severity: 'error',
      comment:
        'Parsers take bytes and return values; retention is pure: neither reaches I/O, even through another module.',
      from: {
        path: ['^src/formats/', '^src/retention/'],
        // The one file reader the byte parsers are handed, kept beside the ByteSource contract it implements.
        pathNot: '^src/formats/file-byte-source\\.ts$',
      },
      to: { path: [IO_MODULES, IO_PROJECT], reachable: true },
    },
    {
      // Transitive, type-only imports included: the shapes and pure helpers the planner shares with the
      // executor (dir facts, in-use problems, shell quoting, the restore argv, client TLS, the members
      // schema) live in modules of their own, apart from the modules that gather facts or run things.
      name: 'restore-planner-no-io',
      severity: 'error',
      comment:
        'The restore planner is pure: it is handed facts and returns a plan; it reaches no I/O, even through another module.',
      // plan-file.ts saves and loads a plan: I/O by design, not the planner.
      from: { path: '^src/restore/plan[a-z-]*\\.ts$', pathNot: '^src/restore/plan-file\\.ts$' },
      to: { path: [IO_MODULES, IO_PROJECT], reachable: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
