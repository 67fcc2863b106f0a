/**
 * The table of configuration options (docs/config-options.md, linked from the README), generated from
 * the schema so that the two cannot drift: test/config/docs.test.ts fails when the committed file is
 * stale, and `UPDATE_DOCS=1 npx vitest run test/config/docs.test.ts` (or `node scripts/gen-config-docs.mjs`
 * after a build) rewrites it.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Row {
  option: string;
  type: string;
  default: string;
  description: string;
}

export function renderConfigDocs(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  const rows: Row[] = [];
  walk(root, '', rows);
  const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    '# Configuration options',
    '',
    '<!-- Generated from src/config/schema.ts by src/config/docs.ts: do not edit by hand.',
    '     Regenerate: UPDATE_DOCS=1 npx vitest run test/config/docs.test.ts -->',
    '',
    'The daemon (`dr daemon --config FILE`), `dr config validate FILE` and the commands taking `--config`',
    'read one YAML file with these options. `[]` marks a list entry. Relative paths are resolved against',
    "the config file's directory. Passwords and tokens are never written in the file: they are read from",
    'the named file or environment variable when the config is loaded, and never printed.',
    'Examples: [policies/](../policies/).',
    '',
    '| Option | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| \`${r.option}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.description)} |`),
    '',
  ].join('\n');
}

function walk(node: Json, prefix: string, rows: Row[]): void {
  const props = isObject(node.properties) ? node.properties : {};
  const required = new Set(Array.isArray(node.required) ? (node.required as string[]) : []);
  for (const [key, value] of Object.entries(props)) {
    if (!isObject(value)) continue;
    const option = prefix === '' ? key : `${prefix}.${key}`;
    rows.push({
      option,
      type: typeOf(value),
      default: defaultOf(value, required.has(key)),
      description: typeof value.description === 'string' ? value.description : '',
    });
    if (value.type === 'object' && isObject(value.properties)) walk(value, option, rows);
    if (value.type === 'array' && isObject(value.items) && isObject(value.items.properties)) {
      walk(value.items, `${option}[]`, rows);
    }
  }
}

function typeOf(s: Json): string {
  if ('const' in s) return `\`${JSON.stringify(s.const)}\``;
  if (Array.isArray(s.enum)) return s.enum.map((v) => `\`${String(v)}\``).join(' | ');
  const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
  switch (types[0]) {
    case 'array': {
      const items = isObject(s.items) ? s.items : {};
      const what = items.type === 'object' ? 'mappings' : `${typeOf(items)}s`;
      return `list of ${what}${typeof s.minItems === 'number' && s.minItems > 0 ? ` (at least ${s.minItems})` : ''}`;
    }
    case 'object':
      if (isObject(s.additionalProperties)) return `map of name to ${typeOf(s.additionalProperties)}`;
      return 'mapping';
    case 'integer':
    case 'number': {
      const min =
        typeof s.minimum === 'number' && s.minimum > Number.MIN_SAFE_INTEGER ? s.minimum : undefined;
      const max =
        typeof s.maximum === 'number' && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
      const excl = typeof s.exclusiveMinimum === 'number' ? `> ${s.exclusiveMinimum}` : undefined;
      const range =
        min !== undefined && max !== undefined ? `${min}..${max}` : min !== undefined ? `≥ ${min}` : excl;
      return range ? `${types[0]} ${range}` : types[0];
    }
    default:
      return types.join(' | ');
  }
}

function defaultOf(s: Json, required: boolean): string {
  if (typeof s.defaultText === 'string') return s.defaultText;
  if ('default' in s) {
    const d = s.default;
    if (isObject(d) && Object.keys(d).length === 0) return '';
    return `\`${typeof d === 'string' ? d : JSON.stringify(d)}\``;
  }
  return required ? '**required**' : '';
}
