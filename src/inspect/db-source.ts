/**
 * Where `dr inspect db|keys` and `dr diff` find a bbolt file: a db file, a snapshot file (etcd's sha256
 * trailer is ignored by the parsers), or a data dir / member dir whose member/snap/db is used.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { DrError } from '../core/errors.js';

/** The db file for `p`: p itself when it is a file, else the first of member/snap/db, snap/db, db below it. */
export function resolveDbFile(p: string): string {
  let st;
  try {
    st = statSync(p);
  } catch (err) {
    throw new DrError('USAGE', `${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (st.isFile()) return p;
  if (st.isDirectory()) {
    for (const rel of ['member/snap/db', 'snap/db', 'db']) {
      const f = path.join(p, rel);
      if (existsSync(f) && statSync(f).isFile()) return f;
    }
    throw new DrError('USAGE', `${p} is a directory without member/snap/db (not an etcd data dir)`);
  }
  throw new DrError('USAGE', `${p} is neither a file nor a directory`);
}

/** The WAL directory for `p`: p/member/wal, p/wal, or p itself. */
export function resolveWalDir(p: string): string {
  let st;
  try {
    st = statSync(p);
  } catch (err) {
    throw new DrError('USAGE', `${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!st.isDirectory())
    throw new DrError('USAGE', `${p} is not a directory (give a data dir or its wal dir)`);
  for (const rel of ['member/wal', 'wal']) {
    const d = path.join(p, rel);
    if (existsSync(d) && statSync(d).isDirectory()) return d;
  }
  return p;
}
