/**
 * `static-pod` control, for kubeadm control planes: etcd is a static pod the kubelet runs from a manifest
 * in its manifest folder (/etc/kubernetes/manifests/etcd.yaml).
 *
 *  - stop: move the manifest out of the kubelet's folder (to `stoppedDir`, by default
 *    /etc/kubernetes/etcd-dr-stopped/; the kubelet ignores every other folder) and wait until the member
 *    is gone (nothing accepts connections on its client URL any more);
 *  - start: write the manifest back with the restored cluster's flags (`--name`, `--initial-cluster`,
 *    `--initial-cluster-state=new`, `--initial-cluster-token`, `--data-dir`, and the data dir's hostPath
 *    volume when the data dir moved), first next to the stopped copy, then renamed into the folder in one
 *    step, so the kubelet never reads half a file. The stopped copy is kept (dr deletes nothing it moved).
 *
 *  - died: the kubelet restarts a container that exits, so the member's death shows only in the container
 *    runtime: `crictl ps -a` lists the etcd container of this pod in state CONTAINER_EXITED, created after
 *    the start; `crictl inspect` gives its exit code and `crictl logs --tail` the end of its log. Without
 *    crictl (or when it fails) dr cannot tell, and the waits go on as before.
 *
 * Both are idempotent: a resumed restore calls them again. Through the member's `ssh` prefix, the files are
 * moved on its host.
 */
import net from 'node:net';
import path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type YAMLMap, type YAMLSeq } from 'yaml';
import { DrError } from '../../core/errors.js';
import type { MemberHost } from '../host.js';
import type { TargetMember } from '../../config/members-file.js';
import type { MemberControl } from './types.js';
import { stoppedPath, type StaticPodSpec } from './static-pod-spec.js';

export interface StaticPodOptions {
  member: TargetMember;
  spec: StaticPodSpec;
  host: MemberHost;
  initialCluster: string;
  token: string;
  /** how long stop waits for the member to go away @default 120000 */
  goneTimeoutMs?: number;
  /** does anything accept connections at this client URL (tests may replace it) */
  listening?: (url: string) => Promise<boolean>;
}

/** true when something accepts a TCP connection at the URL's host:port within 1 s */
export function tcpListening(url: string): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function etcdContainer(doc: ReturnType<typeof parseDocument>): YAMLMap | undefined {
  const containers: unknown = doc.getIn(['spec', 'containers']);
  if (!isSeq(containers)) throw new Error('no spec.containers');
  const maps = containers.items.filter((c): c is YAMLMap => isMap(c));
  return maps.find((c) => c.get('name') === 'etcd') ?? maps[0];
}

function etcdCommand(doc: ReturnType<typeof parseDocument>): YAMLSeq {
  const cmd = etcdContainer(doc)?.get('command', true);
  if (!isSeq(cmd)) throw new Error('the etcd container has no command list');
  return cmd;
}

/** The manifest with the restored cluster's flags; everything else (image, probes, volumes) as it was. */
export function rewriteManifest(
  text: string,
  f: { name: string; dataDir: string; initialCluster: string; token: string },
): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const cmd = etcdCommand(doc);
  const flagValue = (flag: string): string | undefined => {
    for (const item of cmd.items) {
      const v = isScalar(item) ? String(item.value) : '';
      if (v.startsWith(`${flag}=`)) return v.slice(flag.length + 1);
    }
    return undefined;
  };
  const oldDataDir = flagValue('--data-dir');
  const set = (flag: string, value: string) => {
    const i = cmd.items.findIndex((item) => isScalar(item) && String(item.value).startsWith(`${flag}=`));
    const node = doc.createNode(`${flag}=${value}`);
    if (i >= 0) cmd.items[i] = node;
    else cmd.items.push(node);
  };
  set('--name', f.name);
  set('--data-dir', f.dataDir);
  set('--initial-cluster', f.initialCluster);
  set('--initial-cluster-state', 'new');
  set('--initial-cluster-token', f.token);
  // kubeadm mounts the data dir as a hostPath volume at the same path: follow a moved data dir
  if (oldDataDir && oldDataDir !== f.dataDir) {
    const volumes = doc.getIn(['spec', 'volumes']);
    if (isSeq(volumes)) {
      for (const v of volumes.items) {
        if (isMap(v) && v.getIn(['hostPath', 'path']) === oldDataDir)
          v.setIn(['hostPath', 'path'], f.dataDir);
      }
    }
    const containers = doc.getIn(['spec', 'containers']);
    if (isSeq(containers)) {
      for (const c of containers.items) {
        const mounts = isMap(c) ? c.get('volumeMounts') : undefined;
        if (!isSeq(mounts)) continue;
        for (const m of mounts.items) {
          if (isMap(m) && m.get('mountPath') === oldDataDir) m.set('mountPath', f.dataDir);
        }
      }
    }
  }
  return doc.toString();
}

/** which containers `crictl ps` shows for this static pod: its namespace, pod name prefix and container name */
export function podIdentity(text: string): { namespace: string; podPrefix: string; container: string } {
  const doc = parseDocument(text);
  const str = (v: unknown, d: string) => (typeof v === 'string' && v ? v : d);
  return {
    namespace: str(doc.getIn(['metadata', 'namespace']), 'kube-system'),
    // the kubelet names a static pod <metadata.name>-<node name>
    podPrefix: `${str(doc.getIn(['metadata', 'name']), 'etcd')}-`,
    container: str(etcdContainer(doc)?.get('name'), 'etcd'),
  };
}

interface CriContainer {
  id: string;
  state?: string;
  /** nanoseconds since the epoch, as a decimal string */
  createdAt?: string;
  metadata?: { name?: string };
  labels?: Record<string, string>;
}

/**
 * The newest container of this pod that exited after `sinceNs`, from `crictl ps -a -o json`; null when none did.
 */
export function exitedContainer(
  psJson: string,
  pod: ReturnType<typeof podIdentity>,
  sinceNs: bigint,
): CriContainer | null {
  const list = ((JSON.parse(psJson) as { containers?: CriContainer[] }).containers ?? []).filter((c) => {
    const l = c.labels ?? {};
    const name = l['io.kubernetes.container.name'] ?? c.metadata?.name;
    return (
      name === pod.container &&
      (l['io.kubernetes.pod.namespace'] ?? pod.namespace) === pod.namespace &&
      (l['io.kubernetes.pod.name'] ?? pod.podPrefix).startsWith(pod.podPrefix) &&
      c.state === 'CONTAINER_EXITED' &&
      /^\d+$/.test(c.createdAt ?? '') &&
      BigInt(c.createdAt!) >= sinceNs
    );
  });
  list.sort((a, b) => (BigInt(b.createdAt!) > BigInt(a.createdAt!) ? 1 : -1));
  return list[0] ?? null;
}

export function staticPodControl(o: StaticPodOptions): MemberControl {
  const { host, spec } = o;
  const stopped = stoppedPath(spec);
  const listening = o.listening ?? tcpListening;
  const fail = (what: string, detail: string) =>
    new DrError(
      'ETCD_REQUEST_FAILED',
      `restore: static pod of ${o.member.name}: ${what} on ${host.label}: ${detail}`,
    );
  const sh = async (argv: string[], what: string, signal?: AbortSignal) => {
    const r = await host.run(argv, { signal });
    if (r.code !== 0) throw fail(what, r.stderr.trim() || `exit ${r.code}`);
    return r.stdout;
  };
  const crictl = spec.crictl ?? 'crictl';
  /** the host's clock when start() put the manifest in place (containers created since are this restore's) */
  let startedNs: bigint | null = null;
  let pod: ReturnType<typeof podIdentity> | null = null;
  const hostNowNs = async (signal?: AbortSignal) => {
    const r = await host.run(['date', '+%s%N'], { signal });
    return r.code === 0 && /^\d+$/.test(r.stdout.trim())
      ? BigInt(r.stdout.trim())
      : BigInt(Date.now()) * 1_000_000n;
  };
  const readManifest = async (): Promise<{ file: string; text: string } | null> => {
    for (const file of [spec.manifest, stopped]) {
      if (await host.exists(file)) return { file, text: await host.readText(file) };
    }
    return null;
  };
  return {
    type: 'static-pod',
    async check() {
      try {
        const m = await readManifest();
        if (!m)
          return { ok: false, detail: `neither ${spec.manifest} nor ${stopped} exists on ${host.label}` };
        etcdCommand(parseDocument(m.text));
        return { ok: true, detail: `static pod manifest ${m.file} on ${host.label}` };
      } catch (err) {
        return { ok: false, detail: `static pod manifest on ${host.label}: ${(err as Error).message}` };
      }
    },
    async stop(signal) {
      const [inFolder, aside] = await Promise.all([host.exists(spec.manifest), host.exists(stopped)]);
      if (inFolder) {
        await sh(['mkdir', '-p', path.dirname(stopped)], `mkdir ${path.dirname(stopped)}`, signal);
        // an older stopped copy is the operator's original: keep it, take the current one aside of it
        if (aside) await host.rename(stopped, `${stopped}.${Date.now()}`);
        await host.rename(spec.manifest, stopped);
      } else if (!aside) {
        throw fail('stop', `neither ${spec.manifest} nor ${stopped} exists`);
      }
      // gone: nothing accepts connections on any of its client or peer URLs (etcd closes them one by one)
      const urls = [...o.member.clientURLs, ...o.member.peerURLs];
      const limit = o.goneTimeoutMs ?? 120_000;
      const deadline = Date.now() + limit;
      for (;;) {
        const open = (await Promise.all(urls.map(async (u) => ((await listening(u)) ? u : null)))).filter(
          (u): u is string => u !== null,
        );
        if (open.length === 0) return;
        signal?.throwIfAborted();
        if (Date.now() > deadline)
          throw fail(
            'stop',
            `the kubelet did not stop the member: ${open.join(', ')} still accept connections after ${limit} ms (manifest moved to ${stopped})`,
          );
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async start(signal) {
      const m = await readManifest();
      if (!m) throw fail('start', `neither ${spec.manifest} nor ${stopped} exists`);
      const text = rewriteManifest(m.text, {
        name: o.member.name,
        dataDir: o.member.dataDir,
        initialCluster: o.initialCluster,
        token: o.token,
      });
      pod = podIdentity(text);
      startedNs = await hostNowNs(signal);
      if (m.file === spec.manifest && m.text === text) return; // started by an earlier run
      const tmp = `${stopped}.dr-new`;
      await sh(['mkdir', '-p', path.dirname(stopped)], `mkdir ${path.dirname(stopped)}`, signal);
      await sh(
        ['sh', '-c', 'printf %s "$1" | base64 -d > "$2"', 'sh', Buffer.from(text).toString('base64'), tmp],
        `write ${tmp}`,
        signal,
      );
      await host.rename(tmp, spec.manifest);
    },
    async died(signal) {
      if (startedNs === null || pod === null) return null;
      const ps = await host.run([crictl, 'ps', '-a', '--name', pod.container, '-o', 'json'], { signal });
      if (ps.code !== 0) return null; // no crictl here: cannot tell, the wait goes on
      const c = exitedContainer(ps.stdout, pod, startedNs);
      if (!c) return null;
      const short = c.id.slice(0, 13);
      const inspect = await host.run([crictl, 'inspect', c.id], { signal });
      let exitCode: number | null = null;
      let reason = '';
      if (inspect.code === 0) {
        try {
          const st = (JSON.parse(inspect.stdout) as { status?: { exitCode?: number; reason?: string } })
            .status;
          exitCode = typeof st?.exitCode === 'number' ? st.exitCode : null;
          reason = st?.reason ? `, ${st.reason}` : '';
        } catch {
          /* the status line below says what is known */
        }
      }
      const logs = await host.run([crictl, 'logs', '--tail', '15', c.id], { signal });
      return {
        status: `container ${pod.container} (${short}) of its static pod on ${host.label} exited${exitCode !== null ? ` with code ${exitCode}` : ''}${reason}`,
        exitCode,
        log: `${host.remote ? `${host.label} ` : ''}${crictl} logs ${short}`,
        // crictl logs prints the container's stdout and stderr on its own; etcd logs on stderr
        tail: logs.code === 0 ? `${logs.stdout}${logs.stderr}`.trimEnd() : '',
      };
    },
  };
}
