import { ERROR_CATALOGUE } from './errors.js';

/** The README's table of error codes, generated from the one catalogue (test/core/error-docs.test.ts keeps them in step). */
export function renderErrorTable(): string {
  const rows = Object.entries(ERROR_CATALOGUE).map(
    ([code, e]) => `| \`${code}\` | ${e.exit} | ${e.http} | ${e.summary} |`,
  );
  return ['| code | exit | HTTP | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
