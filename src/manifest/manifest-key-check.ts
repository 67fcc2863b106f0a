/**
 * A manifest is only believed where it sits: its id, cluster name and format version must be the ones its
 * key names, and its `stored.key` must be the data key the layout derives from them. A manifest copied
 * into another cluster's folder, or edited to point at other data, is refused by every reader, so that no
 * command (retention and gc above all) acts on another backup's objects because of it.
 */
import { DrError } from '../core/errors.js';
import { dataKeyFor, parseObjectKey } from './layout.js';
import { MANIFEST_FORMAT_VERSION, type Manifest } from './manifest.js';

/** The first field of `m` that does not match `key`, with what was expected; null when it matches. */
export function manifestKeyMismatch(
  m: Pick<Manifest, 'formatVersion' | 'id' | 'clusterName' | 'stored'>,
  key: string,
): { field: string; found: unknown; expected: unknown } | null {
  const at = parseObjectKey(key);
  if (!at || at.kind !== 'manifest')
    return { field: '(key)', found: key, expected: '<cluster>/<id>.manifest.json' };
  if (m.formatVersion !== MANIFEST_FORMAT_VERSION)
    return { field: 'formatVersion', found: m.formatVersion, expected: MANIFEST_FORMAT_VERSION };
  if (m.id !== at.id) return { field: 'id', found: m.id, expected: at.id };
  if (m.clusterName !== at.cluster)
    return { field: 'clusterName', found: m.clusterName, expected: at.cluster };
  const data = dataKeyFor(m);
  if (m.stored.key !== data) return { field: 'stored.key', found: m.stored.key, expected: data };
  return null;
}

/** Throws MANIFEST_MISMATCH naming the manifest's key and the field when `m` does not belong at `key`. */
export function checkManifestKey(m: Manifest, key: string, location: string): void {
  const bad = manifestKeyMismatch(m, key);
  if (!bad) return;
  throw new DrError(
    'MANIFEST_MISMATCH',
    `manifest ${key} in ${location} does not match its key: ${bad.field} is ${JSON.stringify(bad.found)}, the key says ${JSON.stringify(bad.expected)}; refused (a manifest copied from elsewhere or edited). Move or restore the original manifest to read this backup`,
    { key, field: bad.field, check: 'manifest-key' },
  );
}
