/**
 * Admission of jobs: at most `limit` at once across all clusters, and at most one per cluster (two
 * snapshots of one cluster at the same time only double the load on its members). Waiters are served
 * in arrival order among those whose cluster is free, so one busy cluster never blocks the others.
 */
export type Release = () => void;

interface Waiter {
  cluster: string;
  grant: (release: Release) => void;
  reject: (err: unknown) => void;
}

export class ClusterSlots {
  private running = 0;
  private readonly busy = new Set<string>();
  private readonly waiting: Waiter[] = [];

  constructor(private limit: number) {}

  /** A lower limit takes effect as running jobs finish; none is interrupted. */
  setLimit(limit: number): void {
    this.limit = limit;
    this.pump();
  }

  get active(): number {
    return this.running;
  }

  acquire(cluster: string, signal?: AbortSignal): Promise<Release> {
    return new Promise<Release>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const waiter: Waiter = {
        cluster,
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject,
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
      this.pump();
    });
  }

  private pump(): void {
    for (let i = 0; i < this.waiting.length && this.running < this.limit;) {
      const w = this.waiting[i]!;
      if (this.busy.has(w.cluster)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.running++;
      this.busy.add(w.cluster);
      let released = false;
      w.grant(() => {
        if (released) return;
        released = true;
        this.running--;
        this.busy.delete(w.cluster);
        this.pump();
      });
    }
  }
}
