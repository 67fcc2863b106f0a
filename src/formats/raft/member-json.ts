/**
 * The Member JSON etcd puts in ConfChange contexts and in the v2 store / members bucket:
 * `{"id":<decimal uint64>,"peerURLs":[...],"name":"...","clientURLs":[...],"isLearner":true}`.
 * IDs exceed 2^53, so integers are parsed as bigint (lossless-json).
 */
import { parse } from 'lossless-json';

export interface MemberJson {
  id?: bigint;
  name?: string;
  peerURLs?: string[] | null;
  clientURLs?: string[];
  isLearner?: boolean;
  /** set on the context of a learner promotion */
  isPromote?: boolean;
}

/** JSON.parse with every integer as a bigint and other numbers as number. Throws on bad JSON. */
export function parseBigJson(text: string): unknown {
  return parse(text, undefined, (s: string) => (/^-?\d+$/.test(s) ? BigInt(s) : Number(s)));
}

export function parseMemberJson(bytes: Uint8Array | string): MemberJson {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  const v = parseBigJson(text);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('member JSON is not an object');
  const o = v as Record<string, unknown>;
  const out: MemberJson = {};
  if (typeof o.id === 'bigint') out.id = BigInt.asUintN(64, o.id);
  if (typeof o.name === 'string') out.name = o.name;
  if (Array.isArray(o.peerURLs) || o.peerURLs === null) out.peerURLs = o.peerURLs as string[] | null;
  if (Array.isArray(o.clientURLs)) out.clientURLs = o.clientURLs as string[];
  if (o.isLearner === true) out.isLearner = true;
  if (o.isPromote === true) out.isPromote = true;
  return out;
}

/** Member and cluster IDs are printed by etcd as 16-digit lowercase hex. */
export function hexId(id: bigint): string {
  return id.toString(16).padStart(16, '0');
}
