/**
 * The v2 store JSON inside a snap file (docs/format.md §3): in v3 clusters it only holds membership —
 * /0/members/<hexid>/raftAttributes {"peerURLs":[...],"isLearner":bool}, /0/members/<hexid>/attributes
 * {"name":...,"clientURLs":[...]}, /0/removed_members/<hexid>, /0/version. Integers are parsed as bigint.
 * Throws on JSON that is not a v2 store (callers turn that into a finding).
 */
import { parseBigJson } from '../raft/member-json.js';

export interface V2Member {
  /** hex member ID as it appears in the path */
  idHex: string;
  id: bigint;
  peerURLs: string[];
  isLearner: boolean;
  name?: string;
  clientURLs?: string[];
}

export interface V2StoreMembership {
  members: V2Member[];
  removedIds: bigint[];
  clusterVersion?: string;
  currentIndex: bigint;
}

interface V2Node {
  Path?: string;
  Value?: string;
  Children?: Record<string, V2Node> | null;
}

const child = (n: V2Node | undefined, name: string): V2Node | undefined => n?.Children?.[name] ?? undefined;

export function parseV2Store(json: Uint8Array | string): V2StoreMembership {
  const text = typeof json === 'string' ? json : Buffer.from(json).toString('utf8');
  const doc = parseBigJson(text) as { Root?: V2Node; CurrentIndex?: bigint } | null;
  if (!doc || typeof doc !== 'object' || !doc.Root || typeof doc.Root !== 'object')
    throw new Error('v2 store JSON has no Root node');
  const zero = child(doc.Root, '0');
  const members: V2Member[] = [];
  for (const [idHex, node] of Object.entries(child(zero, 'members')?.Children ?? {})) {
    if (!/^[0-9a-f]{1,16}$/.test(idHex))
      throw new Error(`v2 store member path /0/members/${idHex} is not a hex ID`);
    const raftAttr = child(node, 'raftAttributes')?.Value;
    const attr = child(node, 'attributes')?.Value;
    const raft = raftAttr ? (parseBigJson(raftAttr) as { peerURLs?: string[]; isLearner?: boolean }) : {};
    const a = attr ? (parseBigJson(attr) as { name?: string; clientURLs?: string[] }) : undefined;
    members.push({
      idHex,
      id: BigInt(`0x${idHex}`),
      peerURLs: raft.peerURLs ?? [],
      isLearner: raft.isLearner === true,
      ...(a?.name !== undefined ? { name: a.name } : {}),
      ...(a?.clientURLs ? { clientURLs: a.clientURLs } : {}),
    });
  }
  const removedIds = Object.keys(child(zero, 'removed_members')?.Children ?? {})
    .filter((h) => /^[0-9a-f]{1,16}$/.test(h))
    .map((h) => BigInt(`0x${h}`));
  const version = child(zero, 'version')?.Value;
  return {
    members: members.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0)),
    removedIds,
    ...(typeof version === 'string' ? { clusterVersion: version } : {}),
    currentIndex: typeof doc.CurrentIndex === 'bigint' ? doc.CurrentIndex : 0n,
  };
}
