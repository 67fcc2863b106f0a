/**
 * Maps a field path (["policies", 0, "schedule"]) to the line and column where it is written in the
 * YAML source, so that every config error names its place. A path that does not exist (a missing
 * required field) points at the nearest enclosing node that does.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export interface Position {
  line: number;
  column: number;
}

export function positionOf(
  doc: Document,
  lines: LineCounter,
  path: readonly (string | number)[],
  /** point at the key rather than the value (for unknown options) */
  atKey = false,
): Position {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
      if (!pair) break;
      if (atKey && i === path.length - 1) {
        offset = rangeStart(pair.key) ?? offset;
        break;
      }
      const valueStart = rangeStart(pair.value);
      node = pair.value;
      offset = valueStart ?? rangeStart(pair.key) ?? offset;
      if (valueStart === undefined) break;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      node = item;
      offset = rangeStart(item) ?? offset;
    } else break;
  }
  const p = lines.linePos(offset);
  return { line: p.line, column: p.col };
}

function rangeStart(node: unknown): number | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  const range = (node as Partial<Node>).range;
  return range ? range[0] : undefined;
}

/** `policies[0].retention.keepDaily`; keys that are not identifiers are quoted. */
export function formatPath(path: readonly (string | number | symbol)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg))
      out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out === '' ? '(top level)' : out;
}
