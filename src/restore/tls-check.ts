/**
 * The dry run reads every TLS file a restored member will use, where the member will read it (its host),
 * and checks what etcd would otherwise find out only by exiting at start: each file is readable PEM, the
 * certificate matches its key, the CA file verifies the certificate (through intermediates sent with it),
 * and the certificate's SANs cover the hosts of the URLs it serves. clientTls, dr's own, is read here.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { MemberHost } from './host.js';
import type { MembersFile, MemberTls, TargetMember } from '../config/members-file.js';

function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

async function read(
  readText: (p: string) => Promise<string>,
  file: string,
  what: string,
  problems: string[],
): Promise<string | null> {
  try {
    return await readText(file);
  } catch (err) {
    problems.push(`${what} ${file} cannot be read: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
}

function certOf(text: string, file: string, what: string, problems: string[]): X509Certificate[] | null {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) {
    problems.push(`${what} ${file} holds no PEM certificate`);
    return null;
  }
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    problems.push(`${what} ${file} is not a readable certificate: ${(err as Error).message}`);
    return null;
  }
}

/** Problems with one TLS block (a member's tls or peerTls); [] when it is sound. */
export async function checkTlsBlock(
  readText: (p: string) => Promise<string>,
  tls: MemberTls,
  urls: string[],
  label: string,
): Promise<string[]> {
  const problems: string[] = [];
  const [certText, keyText, caText] = await Promise.all([
    read(readText, tls.certFile, `${label} certFile`, problems),
    read(readText, tls.keyFile, `${label} keyFile`, problems),
    read(readText, tls.caFile, `${label} caFile`, problems),
  ]);
  const chain = certText !== null ? certOf(certText, tls.certFile, `${label} certFile`, problems) : null;
  const cas = caText !== null ? certOf(caText, tls.caFile, `${label} caFile`, problems) : null;
  const leaf = chain?.[0];
  if (leaf && keyText !== null) {
    try {
      if (!leaf.checkPrivateKey(createPrivateKey(keyText)))
        problems.push(`${label}: certificate ${tls.certFile} does not match key ${tls.keyFile}`);
    } catch (err) {
      problems.push(
        `${label} keyFile ${tls.keyFile} is not a readable private key: ${(err as Error).message}`,
      );
    }
  }
  if (leaf && cas) {
    if (!verifiedBy(leaf, chain.slice(1), cas))
      problems.push(
        `${label}: CA ${tls.caFile} does not verify certificate ${tls.certFile} (${leaf.subject.replace(/\n/g, ', ')})`,
      );
    const now = Date.now();
    if (Date.parse(leaf.validTo) < now || Date.parse(leaf.validFrom) > now)
      problems.push(
        `${label}: certificate ${tls.certFile} is not valid now (${leaf.validFrom} to ${leaf.validTo})`,
      );
  }
  if (leaf) {
    for (const u of urls) {
      const host = new URL(u).hostname.replace(/^\[|\]$/g, '');
      const ip = /^[\d.]+$/.test(host) || host.includes(':');
      const ok = ip ? leaf.checkIP(host) !== undefined : leaf.checkHost(host) !== undefined;
      if (!ok)
        problems.push(
          `${label}: certificate ${tls.certFile} does not cover ${host} (${u}); its SANs: ${leaf.subjectAltName ?? 'none'}`,
        );
    }
  }
  return problems;
}

function verifiedBy(
  leaf: X509Certificate,
  intermediates: X509Certificate[],
  cas: X509Certificate[],
): boolean {
  let cur = leaf;
  for (let depth = 0; depth < 6; depth++) {
    if (cas.some((ca) => cur.checkIssued(ca) && cur.verify(ca.publicKey))) return true;
    const next = intermediates.find((i) => cur.checkIssued(i) && cur.verify(i.publicKey));
    if (!next || next === cur) return false;
    cur = next;
  }
  return false;
}

/** Every TLS problem of one member (its tls and peerTls, read on its host). */
export async function checkMemberTls(m: TargetMember, host: MemberHost): Promise<string[]> {
  const readText = (p: string) => host.readText(p);
  const out: string[] = [];
  if (m.tls) out.push(...(await checkTlsBlock(readText, m.tls, m.clientURLs, `member "${m.name}" tls`)));
  if (m.peerTls)
    out.push(...(await checkTlsBlock(readText, m.peerTls, m.peerURLs, `member "${m.name}" peerTls`)));
  return out;
}

/** dr's own client TLS: readable, and its certificate matches its key. */
export async function checkClientTls(target: MembersFile): Promise<string[]> {
  const t = target.clientTls;
  if (!t) return [];
  const problems: string[] = [];
  const rd = (p: string) => readFile(p, 'utf8');
  const ca = await read(rd, t.caFile, 'clientTls caFile', problems);
  if (ca !== null) certOf(ca, t.caFile, 'clientTls caFile', problems);
  if (t.certFile && t.keyFile) {
    const [c, k] = await Promise.all([
      read(rd, t.certFile, 'clientTls certFile', problems),
      read(rd, t.keyFile, 'clientTls keyFile', problems),
    ]);
    const cert = c !== null ? certOf(c, t.certFile, 'clientTls certFile', problems)?.[0] : undefined;
    if (cert && k !== null) {
      try {
        if (!cert.checkPrivateKey(createPrivateKey(k)))
          problems.push(`clientTls: certificate ${t.certFile} does not match key ${t.keyFile}`);
      } catch (err) {
        problems.push(
          `clientTls keyFile ${t.keyFile} is not a readable private key: ${(err as Error).message}`,
        );
      }
    }
  }
  return problems;
}
