import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Files other branches are rewriting while these rules landed. Each entry turns the named rules off for
 * those files only, so `npm run lint` passes today. TEMPORARY: shrink this list as the branches merge and
 * their files are brought under the rules; an empty list is the goal.
 */
const TEMPORARY_LINT_EXEMPTIONS = [].map(([file, rules]) => ({
  files: [file],
  rules: Object.fromEntries(rules.map((r) => [r, 'off'])),
}));

/**
 * Side effects live at the edges: only src/cli/ and src/daemon/ touch this process's exit, environment,
 * arguments, working directory, signals and standard streams; elsewhere the value is passed in.
 * (Signalling another process, `process.kill(pid)`, and `process.pid` stay allowed: the sandbox and the
 * restore's local control manage member processes.)
 */
const EDGE_ONLY = [
  'exit',
  'exitCode',
  'env',
  'argv',
  'cwd',
  'chdir',
  'on',
  'once',
  'off',
  'addListener',
  'removeListener',
  'removeAllListeners',
  'stdout',
  'stderr',
  'stdin',
  'abort',
  'umask',
];
const processOnlyAtTheEdges = {
  'no-restricted-properties': [
    'error',
    ...EDGE_ONLY.map((property) => ({
      object: 'process',
      property,
      message: `Only src/cli/ and src/daemon/ use process.${property}: pass the value in.`,
    })),
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.sandbox/**', '.bench/**', '.tools/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error'],
    },
  },
  // Type-aware rules over src/ and test/ (the files tsconfig.test.json covers).
  {
    files: ['src/**/*.ts', 'test/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeCheckedOnly],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // An async method that does not await is how a synchronous implementation meets a Promise
      // contract (Backend, EtcdClient, fakes in tests), and it turns a throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      // Passing on what was caught or an AbortSignal's reason is fine; a literal or a plain object is not.
      '@typescript-eslint/only-throw-error': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
    },
  },
  {
    // Tests read the CLI's `--json` output with JSON.parse and assert on its fields: that value is `any`
    // by design, and `expect` is the check. Everything else type-aware applies to tests too.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['src/**/*.ts'], rules: processOnlyAtTheEdges },
  { files: ['src/cli/**', 'src/daemon/**'], rules: { 'no-restricted-properties': 'off' } },
  { files: ['src/cli/**', 'src/daemon/**', 'scripts/**', 'test/**'], rules: { 'no-console': 'off' } },
  {
    files: ['**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
        module: 'writable',
      },
    },
  },
  ...TEMPORARY_LINT_EXEMPTIONS,
);
