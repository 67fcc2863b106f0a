/**
 * Member control: how a restore stops and starts one member. `local` runs etcd itself (detached, pid file
 * next to the data dir), `systemd` uses systemctl (optionally through an ssh prefix), `manual` asks the
 * operator and waits. Every method is idempotent: a resumed restore calls them again.
 */
export interface MemberControl {
  readonly type: 'local' | 'systemd' | 'manual';
  /** can this member be stopped and started this way (binary present, unit known, ...) */
  check(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  stop(signal?: AbortSignal): Promise<void>;
  start(signal?: AbortSignal): Promise<void>;
}

/**
 * Asks the operator something and resolves with the answer (a line from stdin in the CLI; a scripted
 * function in tests).
 */
export type Prompt = (message: string, signal?: AbortSignal) => Promise<string>;
