/**
 * The age format against the real `age` tool (Debian's package): what dr seals opens with `age -d`, and
 * what `age -r` sealed opens with dr, at the sizes where STREAM framing has edges (empty, one byte, one
 * chunk exactly, two chunks exactly, a partial last chunk). Altered, cut and wrongly keyed objects are
 * refused with the code and the check the CLI reports.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgeDecryptStream } from '../../src/crypto/age-decrypt-stream.js';
import { makeHeader } from '../../src/crypto/age-header.js';
import {
  parseIdentityText,
  parseRecipient,
  parseRecipientsText,
  recipientFingerprint,
} from '../../src/crypto/age-keys.js';
import type { AgeIdentities } from '../../src/crypto/age-keys.js';
import { AGE_CHUNK, AgePayloadEncryptor } from '../../src/crypto/age-stream.js';
import { readIdentityFile } from '../../src/crypto/key-files.js';
import { DrError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/tmp.js';

const SIZES = [0, 1, AGE_CHUNK - 1, AGE_CHUNK, AGE_CHUNK + 1, 2 * AGE_CHUNK, 3 * AGE_CHUNK + 12345];

async function seal(data: Buffer, recipients: string[], pieceSize = 7000): Promise<Buffer> {
  const { header, fileKey } = await makeHeader(recipients.map((r) => parseRecipient(r, 'test')));
  const out: Buffer[] = [];
  const emit = (b: Buffer) => out.push(Buffer.from(b));
  const e = new AgePayloadEncryptor(fileKey, header);
  for (let o = 0; o < data.length; o += pieceSize) e.write(data.subarray(o, o + pieceSize), emit);
  e.end(emit);
  return Buffer.concat(out);
}

async function open(sealed: Buffer, ids: AgeIdentities, recipients: string[] = []): Promise<Buffer> {
  const out: Buffer[] = [];
  // pieces of odd sizes, so header, nonce and chunk boundaries fall inside pieces
  const pieces: Buffer[] = [];
  for (let o = 0; o < sealed.length; o += 5003) pieces.push(sealed.subarray(o, o + 5003));
  await pipeline(
    Readable.from(pieces),
    new AgeDecryptStream(ids, 'backup T', recipients),
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('age interop with the age command-line tool', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let idFile: string;
  let recipient: string;
  let ids: AgeIdentities;
  let otherIds: AgeIdentities;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-age-'));
    idFile = path.join(dir, 'id.txt');
    execFileSync('age-keygen', ['-o', idFile], { stdio: 'ignore' });
    recipient = execFileSync('age-keygen', ['-y', idFile]).toString().trim();
    ids = await readIdentityFile(idFile);
    const other = path.join(dir, 'other.txt');
    execFileSync('age-keygen', ['-o', other], { stdio: 'ignore' });
    otherIds = await readIdentityFile(other);
  });
  afterAll(async () => cleanup?.());

  it.each(SIZES)('dr seals %i bytes; age -d opens them', async (size) => {
    const data = randomBytes(size);
    const sealed = await seal(data, [recipient]);
    const f = path.join(dir, `dr-${size}.age`);
    await writeFile(f, sealed);
    expect(execFileSync('age', ['-d', '-i', idFile, f], { maxBuffer: 1 << 24 }).equals(data)).toBe(true);
    // and dr opens its own
    expect((await open(sealed, ids)).equals(data)).toBe(true);
  });

  it.each(SIZES)('age -r seals %i bytes; dr opens them', async (size) => {
    const data = randomBytes(size);
    const plain = path.join(dir, `plain-${size}`);
    await writeFile(plain, data);
    const sealed = execFileSync('age', ['-r', recipient, plain], { maxBuffer: 1 << 24 });
    expect((await open(sealed, ids)).equals(data)).toBe(true);
  });

  it('a backup sealed to two recipients opens with either identity (dr and age)', async () => {
    const otherRecipient = execFileSync('age-keygen', ['-y', otherIds.file]).toString().trim();
    const data = randomBytes(AGE_CHUNK * 2 + 5);
    const sealed = await seal(data, [recipient, otherRecipient]);
    expect((await open(sealed, otherIds)).equals(data)).toBe(true);
    const f = path.join(dir, 'two.age');
    await writeFile(f, sealed);
    expect(execFileSync('age', ['-d', '-i', otherIds.file, f]).equals(data)).toBe(true);
  });

  it('a wrong identity: ENCRYPTION_KEY_MISSING naming the recipients and the file tried, no key material', async () => {
    const sealed = await seal(randomBytes(1000), [recipient]);
    const fp = recipientFingerprint(recipient);
    const err = (await open(sealed, otherIds, [fp]).catch((e: unknown) => e)) as DrError;
    expect(err).toBeInstanceOf(DrError);
    expect(err.code).toBe('ENCRYPTION_KEY_MISSING');
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain(fp);
    expect(err.message).toContain(otherIds.file);
    expect(err.message).not.toMatch(/AGE-SECRET-KEY/);
  });

  it('an altered chunk, a payload cut at a chunk boundary, and a stray byte after the end are refused (check decrypt)', async () => {
    const data = randomBytes(3 * AGE_CHUNK);
    const sealed = await seal(data, [recipient]);
    const flipped = Buffer.from(sealed);
    flipped[sealed.length - 2 * (AGE_CHUNK + 16) + 100]! ^= 1;
    const headerAndNonce = sealed.length - 3 * (AGE_CHUNK + 16);
    const cut = sealed.subarray(0, headerAndNonce + 2 * (AGE_CHUNK + 16));
    const extra = Buffer.concat([sealed, Buffer.from([0])]);
    for (const [bad, why] of [
      [flipped, /chunk 1 does not authenticate/],
      [cut, /chunk 1 does not authenticate as the last chunk/],
      [extra, /authenticate|cut short/],
    ] as const) {
      const err = (await open(bad, ids).catch((e: unknown) => e)) as DrError;
      expect(err.code).toBe('VERIFY_FAILED');
      expect(err.details.check).toBe('decrypt');
      expect(err.message).toMatch(why);
    }
    // age agrees the cut object is bad (a check that our framing matches the spec's last-chunk rule)
    const f = path.join(dir, 'cut.age');
    await writeFile(f, cut);
    expect(() => execFileSync('age', ['-d', '-i', idFile, f], { stdio: 'pipe' })).toThrow();
  });

  it('not an age file: refused as VERIFY_FAILED (decrypt), not a crash', async () => {
    const err = (await open(Buffer.from('(\xb5/\xfd not age'), ids).catch((e: unknown) => e)) as DrError;
    expect(err.code).toBe('VERIFY_FAILED');
    expect(err.message).toMatch(/not an age file/);
  });

  it('identity files: comments allowed; open modes, secret keys as recipients and bad lines refused without quoting them', async () => {
    const text = await readFile(idFile, 'utf8');
    expect(text).toMatch(/^# created/m); // age-keygen's comments are accepted
    expect(ids.fingerprints).toEqual([recipientFingerprint(recipient)]);
    const open644 = path.join(dir, 'open.txt');
    await writeFile(open644, text);
    await chmod(open644, 0o644);
    await expect(readIdentityFile(open644)).rejects.toMatchObject({
      code: 'ENCRYPTION_KEY_INVALID',
      message: expect.stringMatching(/group\/others \(mode 0644\).*chmod 600/) as unknown,
    });
    const secret = text.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
    const bad = await parseIdentityText(`# x\n${secret}\n${secret.slice(0, 30)}zz\n`, 'f.txt').catch(
      (e: unknown) => e,
    );
    expect((bad as DrError).code).toBe('ENCRYPTION_KEY_INVALID');
    expect((bad as DrError).message).not.toContain(secret.slice(16, 30));
    const notKey = (await parseIdentityText('hello\n', 'f.txt').catch((e: unknown) => e)) as DrError;
    expect(notKey.message).toBe(
      'f.txt:1: not an age X25519 identity (AGE-SECRET-KEY-1..., as age-keygen writes it)',
    );
    expect(() => parseRecipient(secret, '--encrypt-to')).toThrow(/this is a secret key/);
    expect(() => parseRecipient(recipient.slice(0, -1) + 'q', '--encrypt-to')).toThrow(
      /not a valid age recipient/,
    );
    expect(
      parseRecipientsText(`# team key\n${recipient}\n\n${recipient.toUpperCase()}\n`, 'r.txt'),
    ).toHaveLength(2);
  });

  it('the header is the package’s: age reads the recipient stanza dr wrote (one X25519 stanza per recipient)', async () => {
    const { header } = await makeHeader([parseRecipient(recipient, 't')]);
    const lines = header.toString('latin1').split('\n');
    expect(lines[0]).toBe('age-encryption.org/v1');
    expect(lines.filter((l) => l.startsWith('-> ')).map((l) => l.split(' ')[1])).toEqual(['X25519']);
    expect(lines.at(-2)).toMatch(/^--- /);
    // the file key is fresh for every object
    const again = await makeHeader([parseRecipient(recipient, 't')]);
    expect(createHash('sha256').update(again.fileKey).digest('hex')).not.toBe(
      createHash('sha256')
        .update((await makeHeader([parseRecipient(recipient, 't')])).fileKey)
        .digest('hex'),
    );
  });
});
