/**
 * A small stand-in for the kubelet's static pods: it watches a manifest folder and, for every *.yaml in it,
 * runs the etcd container's command (real etcd, from PATH) as the kubelet would; when the file goes away it
 * stops the process (SIGTERM), and when the file changes it restarts it. A container that exits on its own
 * is started again after a back-off, as the kubelet does. Dotfiles and other folders are ignored, as the
 * kubelet ignores them. Output goes to <logDir>/<file>.log.
 *
 * It also keeps what a container runtime would report, and writes a `crictl` stand-in into logDir that
 * answers the three questions dr asks (`ps -a --name N -o json`, `inspect ID`, `logs --tail N ID`) in
 * crictl's JSON shapes, so that the static-pod control's death detection runs against it. No kubelet or
 * container runtime can run here; this is the edge the stand-in covers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

interface Pod {
  text: string;
  child: ChildProcess;
  exited: Promise<void>;
}

/** one container as `crictl ps -a -o json` shows it, plus where its log starts in the pod's log file */
interface ContainerRecord {
  id: string;
  state: 'CONTAINER_RUNNING' | 'CONTAINER_EXITED';
  createdAt: string;
  metadata: { name: string; attempt: number };
  labels: Record<string, string>;
  exitCode: number | null;
  logFile: string;
  logOffset: number;
}

export interface KubeletStandIn {
  /** the command lines it started, in order (argv after the binary) */
  started: string[][];
  /** path of the crictl stand-in that reports this kubelet's containers */
  crictl: string;
  stop(): Promise<void>;
}

const CRICTL = `#!/usr/bin/env node
// crictl stand-in (test/helpers/kubelet-standin.ts): ps -a --name N -o json | inspect ID | logs --tail N ID
const fs = require('node:fs');
const state = JSON.parse(fs.readFileSync(process.env.CRI_STATE || __STATE__, 'utf8'));
const [cmd, ...rest] = process.argv.slice(2);
const opt = (f) => { const i = rest.indexOf(f); return i >= 0 ? rest[i + 1] : undefined; };
const find = (id) => state.find((c) => c.id === id || c.id.startsWith(id));
if (cmd === 'ps') {
  const name = opt('--name');
  const list = state.filter((c) => (rest.includes('-a') || c.state === 'CONTAINER_RUNNING') && (!name || new RegExp(name).test(c.metadata.name)));
  process.stdout.write(JSON.stringify({ containers: list.map(({ exitCode, logFile, logOffset, end, ...c }) => c) }, null, 2));
} else if (cmd === 'inspect') {
  const c = find(rest[rest.length - 1]);
  if (!c) { process.stderr.write('not found\\n'); process.exit(1); }
  process.stdout.write(JSON.stringify({ status: { id: c.id, state: c.state, exitCode: c.exitCode ?? 0, reason: c.state === 'CONTAINER_EXITED' ? (c.exitCode === 0 ? 'Completed' : 'Error') : '' } }));
} else if (cmd === 'logs') {
  const c = find(rest[rest.length - 1]);
  if (!c) { process.stderr.write('not found\\n'); process.exit(1); }
  const text = fs.readFileSync(c.logFile).subarray(c.logOffset, c.end ?? undefined).toString('utf8');
  const n = Number(opt('--tail') ?? '0');
  const lines = text.split('\\n');
  if (lines[lines.length - 1] === '') lines.pop();
  process.stderr.write((n > 0 ? lines.slice(-n) : lines).join('\\n') + '\\n');
} else { process.stderr.write('crictl stand-in: unsupported ' + cmd + '\\n'); process.exit(2); }
`;

export function startKubeletStandIn(manifestDir: string, logDir: string, everyMs = 150): KubeletStandIn {
  const pods = new Map<string, Pod>();
  const started: string[][] = [];
  const containers: (ContainerRecord & { end?: number })[] = [];
  const stateFile = path.join(logDir, 'cri-state.json');
  const crictl = path.join(logDir, 'crictl');
  const save = () => writeFileSync(stateFile, JSON.stringify(containers));
  save();
  writeFileSync(crictl, CRICTL.replace('__STATE__', JSON.stringify(stateFile)));
  chmodSync(crictl, 0o755);
  /** file -> when a container that exited on its own may start again (the kubelet's back-off) */
  const backOff = new Map<string, number>();
  const kill = async (file: string) => {
    const p = pods.get(file);
    if (!p) return;
    pods.delete(file);
    p.child.kill('SIGTERM');
    const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
    await p.exited;
    clearTimeout(t);
  };
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const files = readdirSync(manifestDir).filter((f) => f.endsWith('.yaml') && !f.startsWith('.'));
      for (const f of [...pods.keys()]) if (!files.includes(f)) await kill(f);
      for (const f of files) {
        let text: string;
        try {
          text = readFileSync(path.join(manifestDir, f), 'utf8');
        } catch {
          continue;
        }
        if (pods.get(f)?.text === text) continue;
        if ((backOff.get(f) ?? 0) > Date.now()) continue;
        await kill(f);
        const doc = parse(text) as {
          metadata?: { name?: string; namespace?: string };
          spec: { containers: { name: string; command: string[] }[] };
        };
        const c = doc.spec.containers.find((x) => x.name === 'etcd') ?? doc.spec.containers[0]!;
        const [bin, ...args] = c.command;
        const logFile = path.join(logDir, `${f}.log`);
        const out = openSync(logFile, 'a');
        const logOffset = statSync(logFile).size;
        const child = spawn(bin!, args, { stdio: ['ignore', out, out] });
        closeSync(out);
        started.push(args);
        const rec: ContainerRecord & { end?: number } = {
          id: randomBytes(32).toString('hex'),
          state: 'CONTAINER_RUNNING',
          createdAt: String(BigInt(Date.now()) * 1_000_000n),
          metadata: { name: c.name, attempt: containers.filter((x) => x.logFile === logFile).length },
          labels: {
            'io.kubernetes.container.name': c.name,
            'io.kubernetes.pod.name': `${doc.metadata?.name ?? 'etcd'}-standin`,
            'io.kubernetes.pod.namespace': doc.metadata?.namespace ?? 'default',
          },
          exitCode: null,
          logFile,
          logOffset,
        };
        containers.push(rec);
        save();
        const exited = new Promise<void>((r) =>
          child.once('exit', (code, sig) => {
            rec.state = 'CONTAINER_EXITED';
            rec.exitCode = code ?? (sig ? 128 + (osConstants.signals[sig] ?? 0) : null);
            rec.end = statSync(logFile).size;
            save();
            const p = pods.get(f);
            // it exited on its own: start it again after a back-off, as the kubelet does
            if (p?.child === child) {
              pods.delete(f);
              backOff.set(f, Date.now() + 1000);
            }
            r();
          }),
        );
        pods.set(f, { text, child, exited });
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), everyMs);
  void tick();
  return {
    started,
    crictl,
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 20));
      await Promise.all([...pods.keys()].map(kill));
    },
  };
}
