/**
 * The age header, made and opened by the age-encryption package (its recipient stanzas and its MAC are
 * the part of the format where a home-made slip would be fatal and rare to notice). dr only needs two
 * things the package does not hand out directly, both through its public API:
 *
 * - sealing: the file key, to seal the payload with node:crypto (age-stream.ts). The package wraps one
 *   random file key for every recipient it is given; one extra recipient of our own that writes no stanza
 *   sees that key. The package then encrypts an empty plaintext: its output is the header, a 16-byte
 *   nonce and one empty last chunk (a 16-byte tag), so the header is all but the last 32 bytes.
 * - opening: where the header ends in a stream, so the header can go to Decrypter.decryptHeader (which
 *   checks the MAC and returns the file key) and the payload to our decryptor. The header ends with the
 *   first line that starts `--- ` (stanza lines start `-> `, stanza bodies are base64).
 */
import { Decrypter, Encrypter, type Stanza } from 'age-encryption';
import { DrError } from '../core/errors.js';
import type { AgeIdentities, AgeRecipient } from './age-keys.js';

/** Longer than any header dr writes or reads: a few hundred bytes per recipient. */
export const MAX_HEADER = 64 * 1024;
const FOOTER = Buffer.from('\n--- ');
const MAGIC = Buffer.from('age-encryption.org/v1\n');

export interface SealedHeader {
  header: Buffer;
  fileKey: Uint8Array;
}

export async function makeHeader(recipients: readonly AgeRecipient[]): Promise<SealedHeader> {
  if (recipients.length === 0) throw new DrError('INTERNAL', 'age: no recipient to encrypt to');
  let fileKey: Uint8Array | null = null;
  const e = new Encrypter();
  e.addRecipient({
    wrapFileKey(key: Uint8Array): Stanza[] {
      fileKey = Uint8Array.from(key);
      return [];
    },
  });
  for (const r of recipients) e.addRecipient(r.recipient);
  const empty = await e.encrypt(new Uint8Array(0));
  if (!fileKey || empty.length <= 32) throw new DrError('INTERNAL', 'age: the header was not made');
  return { header: Buffer.from(empty.subarray(0, empty.length - 32)), fileKey };
}

/**
 * The length of the header at the start of `head`, or null when more bytes are needed. Throws when
 * the bytes are not an age file or the header is longer than MAX_HEADER.
 */
export function headerLength(head: Buffer, what: string): number | null {
  const magic = head.subarray(0, MAGIC.length);
  if (!MAGIC.subarray(0, magic.length).equals(magic))
    throw new DrError(
      'VERIFY_FAILED',
      `${what}: the stored object is not an age file (no age-encryption.org/v1 header)`,
      {
        check: 'decrypt',
      },
    );
  const f = head.indexOf(FOOTER);
  if (f >= 0) {
    const nl = head.indexOf(0x0a, f + FOOTER.length);
    if (nl >= 0) return nl + 1;
  }
  if (head.length > MAX_HEADER)
    throw new DrError('VERIFY_FAILED', `${what}: the age header is longer than ${MAX_HEADER} bytes`, {
      check: 'decrypt',
    });
  return null;
}

/**
 * The file key from a header, with the first identity that opens it (the MAC checked by the package).
 * None opening it is ENCRYPTION_KEY_MISSING naming the backup's recipients and the identity file.
 */
export async function openHeader(
  header: Buffer,
  identities: AgeIdentities,
  what: string,
  recipients: readonly string[],
): Promise<Uint8Array> {
  const d = new Decrypter();
  for (const k of identities.keys) d.addIdentity(k);
  try {
    return await d.decryptHeader(header);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/no identity matched/.test(msg)) throw keyMissing(what, recipients, identities);
    throw new DrError('VERIFY_FAILED', `${what}: the age header does not open: ${msg}`, { check: 'decrypt' });
  }
}

export function keyMissing(
  what: string,
  recipients: readonly string[],
  identities: AgeIdentities | null,
): DrError {
  const to = recipients.length ? recipients.join(', ') : 'unknown recipients';
  const message = identities
    ? `${what} is encrypted to age recipient(s) ${to}; no identity in ${identities.file} matches (it holds ${identities.fingerprints.join(', ')})`
    : `${what} is encrypted to age recipient(s) ${to}; give the matching identity with --identity FILE (or DR_AGE_IDENTITY_FILE)`;
  return new DrError('ENCRYPTION_KEY_MISSING', message, {
    recipients: [...recipients],
    ...(identities ? { identityFile: identities.file, identityFingerprints: identities.fingerprints } : {}),
  });
}
