/**
 * Optional Ed25519 signatures over manifests. The signature is a small JSON object stored beside the
 * manifest (`<cluster>/<id>.manifest.sig`), written before it (the manifest stays the commit point) and
 * computed over the manifest's exact bytes as stored.
 *
 * Keys are the standard PEM forms `openssl` writes: the private key PKCS#8
 * (`openssl genpkey -algorithm ed25519 -out sign.pem`), the public key SPKI
 * (`openssl pkey -in sign.pem -pubout -out verify.pem`). A key id (the first 16 hex digits of the sha256
 * of the public key's DER) names the key in the signature, so that a reader holding several public keys
 * (a rotation) says which one signed, and a failure names the key that was expected.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { DrError } from '../core/errors.js';

export const SIGNATURE_FORMAT = 'etcd-dr-manifest-signature/v1';

/** What readers require of manifests: with verify keys, every manifest must carry a valid signature. */
export interface ManifestTrust {
  verifyKeys: KeyObject[];
}

export const NO_TRUST: ManifestTrust = { verifyKeys: [] };

export interface SignatureRecord {
  format: typeof SIGNATURE_FORMAT;
  algorithm: 'ed25519';
  keyId: string;
  signature: string; // base64, 64 bytes
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

function readKeyFile(file: string, what: string, source: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new DrError(
      'CONFIG_INVALID',
      `${source}: cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/**
 * The private signing key (PKCS#8 PEM, Ed25519). Refused when other users may read it: it is the key
 * that makes a forged manifest look genuine.
 */
export function loadSigningKey(file: string, source = '--sign-key'): KeyObject {
  const pem = readKeyFile(file, 'signing key', source);
  const mode = statSync(file).mode;
  if (mode & 0o077)
    throw new DrError(
      'CONFIG_INVALID',
      `${source}: the signing key ${file} may be read by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new DrError(
      'CONFIG_INVALID',
      `${source}: ${file} is not a PEM private key (${(err as Error).message}); make one with: openssl genpkey -algorithm ed25519 -out ${file}`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new DrError(
      'CONFIG_INVALID',
      `${source}: ${file} is a ${key.asymmetricKeyType ?? 'unknown'} key; manifests are signed with Ed25519 (openssl genpkey -algorithm ed25519)`,
    );
  return key;
}

/** Public keys (SPKI PEM, Ed25519); one file may hold several (a key rotation). */
export function loadVerifyKeys(files: string[], source = '--verify-key'): KeyObject[] {
  const keys: KeyObject[] = [];
  for (const file of files) {
    const text = readKeyFile(file, 'verify key', source).toString('utf8');
    const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
    if (blocks.length === 0)
      throw new DrError(
        'CONFIG_INVALID',
        `${source}: ${file} holds no PEM public key (make one with: openssl pkey -in sign.pem -pubout -out ${file})`,
      );
    for (const pem of blocks) {
      let key: KeyObject;
      try {
        key = createPublicKey(pem);
      } catch (err) {
        throw new DrError('CONFIG_INVALID', `${source}: ${file}: ${(err as Error).message}`);
      }
      if (key.asymmetricKeyType !== 'ed25519')
        throw new DrError(
          'CONFIG_INVALID',
          `${source}: ${file} holds a ${key.asymmetricKeyType ?? 'unknown'} key; manifests are signed with Ed25519`,
        );
      keys.push(key);
    }
  }
  return keys;
}

/** The signature object for a manifest's exact bytes. */
export function signManifestBytes(body: Buffer, privateKey: KeyObject): Buffer {
  const record: SignatureRecord = {
    format: SIGNATURE_FORMAT,
    algorithm: 'ed25519',
    keyId: keyIdOf(createPublicKey(privateKey)),
    signature: sign(null, body, privateKey).toString('base64'),
  };
  return Buffer.from(JSON.stringify(record) + '\n');
}

/**
 * Why `sig` does not prove `body` for any of `keys`, or null when one of them verifies it. `sig` null:
 * the manifest is unsigned.
 */
export function signatureProblem(body: Buffer, sig: Buffer | null, keys: KeyObject[]): string | null {
  if (sig === null) return 'it is unsigned (no .manifest.sig beside it)';
  let rec: Partial<SignatureRecord>;
  try {
    rec = JSON.parse(sig.toString('utf8')) as Partial<SignatureRecord>;
  } catch {
    return 'its signature object is not JSON';
  }
  if (rec.format !== SIGNATURE_FORMAT || rec.algorithm !== 'ed25519' || typeof rec.signature !== 'string')
    return `its signature object is not ${SIGNATURE_FORMAT} with algorithm ed25519`;
  const raw = Buffer.from(rec.signature, 'base64');
  for (const k of keys) if (verify(null, body, k, raw)) return null;
  const ids = keys.map(keyIdOf).join(', ');
  return `its signature (key id ${String(rec.keyId)}) does not verify with the verify key${keys.length > 1 ? 's' : ''} ${ids}`;
}
