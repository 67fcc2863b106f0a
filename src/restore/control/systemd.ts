/**
 * `systemd` control: `systemctl stop|start <unit>`, on this machine or through the member's ssh prefix.
 * Start uses --no-block: etcd's units are Type=notify and etcd only notifies once it has joined a quorum,
 * which the members started after it provide; a blocking start of the first member would never return.
 */
import { DrError } from '../../core/errors.js';
import type { MemberHost } from '../host.js';
import type { MemberControl } from './types.js';

export function systemdControl(o: { unit: string; host: MemberHost }): MemberControl {
  const ctl = async (args: string[], signal?: AbortSignal) => {
    const r = await o.host.run(['systemctl', ...args], { signal });
    if (r.code !== 0) {
      throw new DrError(
        'ETCD_REQUEST_FAILED',
        `restore: systemctl ${args.join(' ')} on ${o.host.label} failed: ${r.stderr.trim() || `exit ${r.code}`}`,
      );
    }
    return r.stdout.trim();
  };
  return {
    type: 'systemd',
    async check(signal) {
      try {
        const state = await ctl(['show', '--property=LoadState', '--value', o.unit], signal);
        return state === 'loaded'
          ? { ok: true, detail: `${o.unit} loaded on ${o.host.label}` }
          : { ok: false, detail: `${o.unit} on ${o.host.label}: LoadState=${state || 'unknown'}` };
      } catch (err) {
        return { ok: false, detail: (err as Error).message };
      }
    },
    async stop(signal) {
      await ctl(['stop', o.unit], signal);
    },
    async start(signal) {
      await ctl(['start', '--no-block', o.unit], signal);
    },
  };
}
