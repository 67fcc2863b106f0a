/**
 * The revision log's small JSON objects (segment manifests, gap records, the retention record): read one,
 * parse and validate it against its schema, refusing what does not parse with VERIFY_FAILED naming the key
 * and the first problem; write one as indented JSON. One home for what the three kinds share.
 */
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { z } from 'zod';
import { DrError } from '../core/errors.js';
import type { Backend } from '../storage/backend.js';

/** The object at key, validated; `what` names it in messages, `check` in the error's details. */
export async function readJsonObject<S extends z.ZodType>(
  backend: Backend,
  key: string,
  schema: S,
  names: { what: string; check: string },
  signal?: AbortSignal,
): Promise<{ value: z.output<S>; body: Buffer }> {
  const body = await buffer(await backend.get(key, { signal }));
  const where = `revlog: ${names.what} ${key} in ${backend.location}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new DrError('VERIFY_FAILED', `${where} is not valid JSON: ${(err as Error).message}`, {
      check: names.check,
      key,
    });
  }
  const r = schema.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new DrError('VERIFY_FAILED', `${where} is invalid: ${issue.path.join('.')}: ${issue.message}`, {
      check: names.check,
      key,
    });
  }
  return { value: r.data, body };
}

/** Writes value as indented JSON (one put: visible whole or not at all). */
export async function writeJsonObject(
  backend: Backend,
  key: string,
  value: unknown,
  signal?: AbortSignal,
): Promise<void> {
  await backend.put(key, Readable.from([Buffer.from(JSON.stringify(value, null, 2) + '\n')]), { signal });
}
