/**
 * A small stand-in for the kubelet's static pods: it watches a manifest folder and, for every *.yaml in it,
 * runs the etcd container's command (real etcd, from PATH) as the kubelet would; when the file goes away it
 * stops the process (SIGTERM), and when the file changes it restarts it. Dotfiles and other folders are
 * ignored, as the kubelet ignores them. Output goes to <logDir>/<file>.log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

interface Pod {
  text: string;
  child: ChildProcess;
  exited: Promise<void>;
}

export interface KubeletStandIn {
  /** the command lines it started, in order (argv after the binary) */
  started: string[][];
  stop(): Promise<void>;
}

export function startKubeletStandIn(manifestDir: string, logDir: string, everyMs = 150): KubeletStandIn {
  const pods = new Map<string, Pod>();
  const started: string[][] = [];
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
        await kill(f);
        const doc = parse(text) as { spec: { containers: { name: string; command: string[] }[] } };
        const c = doc.spec.containers.find((x) => x.name === 'etcd') ?? doc.spec.containers[0]!;
        const [bin, ...args] = c.command;
        const out = openSync(path.join(logDir, `${f}.log`), 'a');
        const child = spawn(bin!, args, { stdio: ['ignore', out, out] });
        closeSync(out);
        started.push(args);
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
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
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 20));
      await Promise.all([...pods.keys()].map(kill));
    },
  };
}
