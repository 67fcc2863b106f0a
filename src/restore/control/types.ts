/**
 * Member control: how a restore stops and starts one member. `local` runs etcd itself (detached, pid file
 * next to the data dir), `systemd` uses systemctl (optionally through an ssh prefix), `manual` asks the
 * operator and waits. Every method is idempotent: a resumed restore calls them again.
 */
export interface MemberControl {
  readonly type: 'local' | 'systemd' | 'manual' | 'static-pod';
  /** can this member be stopped and started this way (binary present, unit known, ...) */
  check(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  stop(signal?: AbortSignal): Promise<void>;
  start(signal?: AbortSignal): Promise<void>;
  /**
   * Has the member died since it was started (process exited, unit failed)? null while it runs or when
   * this control cannot tell (manual). The waits ask it on every poll, so a member that exits is reported
   * at once, with its exit status and the end of its log, instead of after the wait's timeout.
   */
  died?(signal?: AbortSignal): Promise<MemberDeath | null>;
}

export interface MemberDeath {
  /** "exited with code 1", "killed by SIGKILL", "unit etcd.service failed (Result=exit-code, status 1)" */
  status: string;
  exitCode?: number | null;
  /** where its whole log is (a file, or a journalctl command) */
  log: string;
  /** the last lines of that log */
  tail: string;
}

/**
 * Asks the operator something and resolves with the answer (a line from stdin in the CLI; a scripted
 * function in tests).
 */
export type Prompt = (message: string, signal?: AbortSignal) => Promise<string>;
