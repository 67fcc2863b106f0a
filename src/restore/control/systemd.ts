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
    async died(signal) {
      const r = await o.host.run(
        ['systemctl', 'show', '--property=ActiveState,SubState,Result,ExecMainStatus', o.unit],
        { signal },
      );
      if (r.code !== 0) return null; // cannot tell: the wait goes on and reports what it sees
      const p = Object.fromEntries(
        r.stdout
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
      );
      // inactive with Result=success is also what a start job still queued looks like: not a death
      const dead =
        p.ActiveState === 'failed' ||
        p.SubState === 'auto-restart' ||
        (p.ActiveState === 'inactive' && p.Result !== undefined && p.Result !== 'success');
      if (!dead) return null;
      const status = Number(p.ExecMainStatus);
      const journal = ['journalctl', '-u', o.unit, '-n', '15', '--no-pager', '-o', 'cat'];
      const j = await o.host.run(journal, { signal }).catch(() => null);
      return {
        status: `unit ${o.unit} on ${o.host.label} is ${p.ActiveState}/${p.SubState} (Result=${p.Result ?? '?'}, status ${p.ExecMainStatus ?? '?'})`,
        exitCode: Number.isFinite(status) ? status : null,
        log: `${o.host.remote ? `${o.host.label} ` : ''}${journal.slice(0, 3).join(' ')}`,
        tail: j && j.code === 0 ? j.stdout.trimEnd() : '',
      };
    },
  };
}
