/**
 * The `static-pod` control as the members file gives it, and where its stop step puts the manifest. Pure
 * and apart from static-pod.ts (which moves files and dials the member), so that the planner can show the
 * commands without reaching either.
 */
import path from 'node:path';

export interface StaticPodSpec {
  type: 'static-pod';
  manifest: string;
  stoppedDir?: string;
  /** @default 'crictl' */
  crictl?: string;
  ssh?: string;
}

export function stoppedPath(spec: StaticPodSpec): string {
  const dir = spec.stoppedDir ?? path.join(path.dirname(path.dirname(spec.manifest)), 'etcd-dr-stopped');
  return path.join(dir, path.basename(spec.manifest));
}
