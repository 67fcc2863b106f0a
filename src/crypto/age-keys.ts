/**
 * age keys as dr handles them. A recipient (`age1...`, an X25519 public key) is all a backup host needs;
 * an identity (`AGE-SECRET-KEY-1...`) is needed only where a backup is read back. The manifest names the
 * recipients by fingerprint only: the first 16 hex digits of sha256 over the recipient string, enough
 * to tell which key a backup needs, and never the key itself.
 *
 * Parsers here take text and return values; reading the files (and their modes) is key-files.ts.
 */
import { createHash } from 'node:crypto';
import { Encrypter, identityToRecipient } from 'age-encryption';
import { DrError } from '../core/errors.js';

export const AGE_SCHEME = 'age-encryption.org/v1';

export interface AgeRecipient {
  /** the public key as given, `age1...` (lower case) */
  recipient: string;
  fingerprint: string;
}

/** Identities loaded from one file: the secret keys stay in here, only fingerprints leave. */
export interface AgeIdentities {
  /** the file they came from, for messages */
  file: string;
  /** AGE-SECRET-KEY-1... strings: never logged, never in a message */
  readonly keys: readonly string[];
  /** fingerprints of the recipients these identities open */
  fingerprints: string[];
}

export function recipientFingerprint(recipient: string): string {
  return createHash('sha256').update(recipient.trim().toLowerCase()).digest('hex').slice(0, 16);
}

/**
 * One recipient, checked (bech32, 32-byte key) by the age package itself. Only X25519 (`age1...`):
 * the post-quantum and tag recipients the package also knows are refused, because Debian's `age` (1.1)
 * cannot decrypt them and a backup must open with the standard tool.
 */
export function parseRecipient(raw: string, where: string): AgeRecipient {
  const r = raw.trim();
  const lower = r.toLowerCase();
  if (!lower.startsWith('age1') || lower.startsWith('age1pq1') || lower.startsWith('age1tag')) {
    throw new DrError(
      'ENCRYPTION_KEY_INVALID',
      `${where}: not an age X25519 recipient (age1... as age-keygen prints it)${r.startsWith('AGE-SECRET-KEY-') ? ': this is a secret key; give its public key (age-keygen -y FILE)' : ''}`,
    );
  }
  try {
    new Encrypter().addRecipient(lower);
  } catch {
    throw new DrError(
      'ENCRYPTION_KEY_INVALID',
      `${where}: "${r}" is not a valid age recipient (bad encoding or length)`,
    );
  }
  return { recipient: lower, fingerprint: recipientFingerprint(lower) };
}

/**
 * Recipients from a recipients file's text: one per line, `#` comments and blank lines ignored (the
 * format `age -R` reads, for X25519 keys).
 */
export function parseRecipientsText(text: string, file: string): AgeRecipient[] {
  const out: AgeRecipient[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    out.push(parseRecipient(t, `${file}:${i + 1}`));
  });
  if (out.length === 0) throw new DrError('ENCRYPTION_KEY_INVALID', `${file}: no age recipient in the file`);
  return out;
}

/** Several recipient lists into one, each key once (in first-seen order). */
export function uniqueRecipients(lists: AgeRecipient[][]): AgeRecipient[] {
  const seen = new Map<string, AgeRecipient>();
  for (const r of lists.flat()) if (!seen.has(r.recipient)) seen.set(r.recipient, r);
  return [...seen.values()];
}

/**
 * Identities from an identity file's text (what age-keygen writes): one AGE-SECRET-KEY-1 per line,
 * `#` comments and blank lines ignored. A bad line is named by its number only: its content may be key
 * material.
 */
export async function parseIdentityText(text: string, file: string): Promise<AgeIdentities> {
  const keys: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (t === '' || t.startsWith('#')) continue;
    if (t.startsWith('age-encryption.org/') || t.startsWith('-----BEGIN AGE'))
      throw new DrError(
        'ENCRYPTION_KEY_INVALID',
        `${file}: a passphrase-protected identity file; decrypt it first (age -d ${file} > a file readable only by you)`,
      );
    if (!t.startsWith('AGE-SECRET-KEY-1'))
      throw new DrError(
        'ENCRYPTION_KEY_INVALID',
        `${file}:${i + 1}: not an age X25519 identity (AGE-SECRET-KEY-1..., as age-keygen writes it)`,
      );
    keys.push(t);
  }
  if (keys.length === 0) throw new DrError('ENCRYPTION_KEY_INVALID', `${file}: no age identity in the file`);
  const fingerprints: string[] = [];
  for (const k of keys) {
    let recipient: string;
    try {
      recipient = await identityToRecipient(k);
    } catch {
      throw new DrError(
        'ENCRYPTION_KEY_INVALID',
        `${file}: an AGE-SECRET-KEY-1 line is malformed (bad encoding or length)`,
      );
    }
    fingerprints.push(recipientFingerprint(recipient));
  }
  return { file, keys, fingerprints };
}
