/**
 * The age recipients a command encrypts to (`dr backup`, `dr log follow`): --encrypt-to and
 * --encrypt-to-file, or the policy named by --policy in --config.
 */
import type { AgeRecipient } from '../crypto/age-keys.js';
import { parseRecipient, uniqueRecipients } from '../crypto/age-keys.js';
import { readRecipientsFile, resolveRecipients } from '../crypto/key-files.js';
import type { CommandContext } from './context.js';

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * --encrypt-to and --encrypt-to-file, each key once; without them, with --config and --policy NAME, that
 * policy's `encryption` (as the daemon would encrypt). Read before etcd is asked for anything.
 */
export async function recipientsOf(
  ctx: CommandContext,
  opts: { encryptTo: string[]; encryptToFile: string[]; policy?: string },
): Promise<AgeRecipient[]> {
  if (opts.encryptTo.length === 0 && opts.encryptToFile.length === 0) {
    if (!ctx.flags.config || !opts.policy) return [];
    const { loadConfig } = await import('../config/load.js');
    const policy = loadConfig(ctx.flags.config, { env: ctx.env, offline: true }).policies.find(
      (p) => p.name === opts.policy,
    );
    return policy?.encryption ? resolveRecipients(policy.encryption) : [];
  }
  const lists = [opts.encryptTo.map((r) => parseRecipient(r, '--encrypt-to'))];
  for (const f of opts.encryptToFile) lists.push(await readRecipientsFile(f));
  return uniqueRecipients(lists);
}
