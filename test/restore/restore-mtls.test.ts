/** A 3-member restore whose client URLs are https with --client-cert-auth: dr must present its client cert. */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/manifest.js';
import { executeRestore } from '../../src/restore/execute.js';
import { parseMembers, type MembersFile } from '../../src/config/members-file.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { healthProbe } from '../../src/restore/probe.js';
import { makeTestCerts, type TestCerts, mtlsServer, mtlsClient } from '../helpers/certs.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { tempDir } from '../helpers/tmp.js';
import { etcdctl, localTarget, manifestFor, stopLocal } from './helpers.js';

describe('restore with mTLS client URLs', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let certs: TestCerts;
  let manifest: Manifest;
  let snapshot: string;
  let target: MembersFile | undefined;

  beforeAll(async () => {
    work = await tempDir('dr-mtls-');
    certs = await makeTestCerts();
    snapshot = await makeSnapshotFile(work.dir, { keys: 12 });
    manifest = manifestFor(snapshot, { clusterId: 'deadbeef' });
  });
  afterAll(async () => {
    await stopLocal(target);
    await certs?.cleanup();
    await work?.cleanup();
  });

  it('restores, waits and verifies over https with a client certificate', async () => {
    const plain = await localTarget(work.dir, ['t1', 't2', 't3']);
    const tls = mtlsServer(certs);
    target = parseMembers({
      clientTls: mtlsClient(certs),
      timing: plain.timing,
      members: plain.members.map((m) => ({
        ...m,
        clientURLs: m.clientURLs.map((u) => u.replace('http:', 'https:')),
        tls,
      })),
    });
    const plan = await prepareRestore({ manifest, target, now: new Date() });
    expect(plan.refusals).toEqual([]);
    const result = await executeRestore(plan, {
      manifest,
      source: { file: snapshot },
      journalFile: path.join(work.dir, 'j.json'),
    });
    expect(result.verification.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.verification.keyCount).toBe(12);
    const ep = target.members[0]!.clientURLs[0]!;
    // without a client certificate the member refuses: the TLS really is mutual
    expect(await healthProbe(ep, { caFile: certs.caFile }).catch(() => false)).toBe(false);
    expect(
      etcdctl(
        [ep],
        '--cacert',
        certs.caFile,
        '--cert',
        certs.clientCertFile,
        '--key',
        certs.clientKeyFile,
        'get',
        '/registry/configmaps/default/cm-11',
        '--print-value-only',
      ).trim(),
    ).toMatch(/11$/);
  });
});
