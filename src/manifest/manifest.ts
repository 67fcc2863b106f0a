/**
 * The manifest is the commit record of a backup: it is written last, after the data object is complete,
 * and a data object without a manifest does not exist as far as dr is concerned.
 *
 * Storage layout (keys relative to the storage root):
 *   <cluster>/<id>.db.zst        the zstd-compressed plain snapshot (db + etcd's 32-byte sha256 trailer)
 *   <cluster>/<id>.db.zst.age    the same, encrypted with age (stored.encryption says to whom)
 *   <cluster>/<id>.manifest.json this record
 * Backup ids sort by time: <UTC yyyymmddThhmmssZ>-<8 hex random>.
 */
export const MANIFEST_FORMAT_VERSION = 1;

export interface Manifest {
  formatVersion: number;
  id: string;
  clusterName: string;
  policy: string | null;
  createdAt: string; // ISO 8601 UTC, when the snapshot stream started
  completedAt: string; // when the manifest was written
  durationMs: number;
  source: {
    endpoint: string; // credentials removed
    memberId: string; // hex, as etcdctl prints it
    memberName: string | null;
    isLeader: boolean;
    clusterId: string; // hex
    etcdVersion: string;
    raftIndex: string; // decimal (uint64)
    raftTerm: string; // decimal (uint64)
  };
  snapshot: {
    /** as `etcdctl snapshot status` prints them, computed from the snapshot itself */
    revision: string; // decimal
    totalKeys: number;
    /** live keys at `revision` (what `etcdctl get "" --prefix --count-only` would say); null if etcd could not tell */
    liveKeys: number | null;
    hash: number; // crc32c, decimal as in `snapshot status -w json`
    dbSize: number; // bytes of the bbolt db (without the trailer)
    /** sha256 of the plain snapshot file (db + etcd's 32-byte trailer): what `etcdctl snapshot save` writes */
    sha256: string;
    /** etcd's own trailer: sha256 of the db bytes */
    etcdSha256: string;
    size: number; // plain file size = dbSize + 32
    consistentIndex: string | null;
  };
  stored: {
    key: string;
    size: number;
    sha256: string;
    compression: 'zstd' | 'none';
    compressionLevel: number | null;
    /** null: stored in the clear. Otherwise the scheme and the fingerprints of the recipients (never a key) */
    encryption: StoredEncryption | null;
  };
  tool: { name: 'etcd-dr'; version: string };
}

export interface StoredEncryption {
  scheme: 'age-encryption.org/v1';
  /** sha256 of each recipient string (`age1...`), first 16 hex digits (src/crypto/age-keys.ts) */
  recipients: string[];
}
