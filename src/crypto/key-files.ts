/**
 * Reading age key files. A recipients file holds public keys and may be world-readable. An identity
 * file holds secret keys: one that group or others may read is refused (as ssh refuses such a private
 * key), so a key left open on a shared host is noticed, never used. The message says how to fix it and
 * never quotes the file's content.
 */
import { readFile, stat } from 'node:fs/promises';
import { DrError } from '../core/errors.js';
import {
  parseIdentityText,
  parseRecipient,
  parseRecipientsText,
  uniqueRecipients,
  type AgeIdentities,
  type AgeRecipient,
} from './age-keys.js';

async function readKeyFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new DrError(
      'ENCRYPTION_KEY_INVALID',
      `${what} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

export async function readRecipientsFile(file: string): Promise<AgeRecipient[]> {
  return parseRecipientsText(await readKeyFile(file, 'age recipients file'), file);
}

export async function readIdentityFile(file: string): Promise<AgeIdentities> {
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch (err) {
    throw new DrError(
      'ENCRYPTION_KEY_INVALID',
      `age identity file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  if ((mode & 0o077) !== 0)
    throw new DrError(
      'ENCRYPTION_KEY_INVALID',
      `age identity file ${file} is readable or writable by group/others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): it holds secret keys; chmod 600 ${file}`,
    );
  return parseIdentityText(await readKeyFile(file, 'age identity file'), file);
}

/**
 * A policy's recipients: the inline ones and those of its recipients file, each key once. A file that
 * cannot be read fails the backup: a backup meant to be encrypted is never stored in the clear.
 */
export async function resolveRecipients(e: {
  recipients: readonly string[];
  recipientsFile?: string;
}): Promise<AgeRecipient[]> {
  const inline = e.recipients.map((r, i) => parseRecipient(r, `encryption.recipients[${i}]`));
  const fromFile = e.recipientsFile ? await readRecipientsFile(e.recipientsFile) : [];
  return uniqueRecipients([inline, fromFile]);
}
