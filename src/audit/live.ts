/**
 * Is a running etcd holding these files? etcd locks the WAL segments it has open (the last one, and the
 * preallocated `*.tmp`) for as long as it runs. Linux lists every held lock, with the device and inode of its
 * file, in /proc/locks; reading that list changes nothing (no lock is taken, no audited file is opened for it).
 * Elsewhere, or when /proc/locks cannot be read, files count as not held.
 */
import { readFile, stat } from 'node:fs/promises';

/** "maj:min:inode" keys of every file with a held lock, or null when the list cannot be read */
async function lockedFiles(): Promise<Set<string> | null> {
  let text: string;
  try {
    text = await readFile('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  const out = new Set<string>();
  // "1: FLOCK  ADVISORY  WRITE 1234 08:01:131090 0 EOF" (also POSIX, OFDLCK; "->" lines are waiters)
  for (const m of text.matchAll(/^\d+:\s+(?!->)\S+\s+\S+\s+\S+\s+-?\d+\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/gm))
    out.add(`${parseInt(m[1]!, 16)}:${parseInt(m[2]!, 16)}:${m[3]}`);
  return out;
}

/** Linux's dev_t split (glibc's major()/minor()) */
function devKey(dev: number, ino: number): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}:${ino}`;
}

/** true when any of `files` is locked by some process (a running etcd) */
export async function anyLocked(files: readonly string[]): Promise<boolean> {
  if (files.length === 0) return false;
  const locked = await lockedFiles();
  if (!locked || locked.size === 0) return false;
  for (const f of files) {
    try {
      const st = await stat(f);
      if (locked.has(devKey(st.dev, st.ino))) return true;
    } catch {
      /* gone: not held */
    }
  }
  return false;
}
