import type { Backend } from '../../src/storage/backend.js';

/**
 * A backend that does what `b` does (every operation, the optional ones included), with some operations
 * replaced: a slow put, a refused put, a download that breaks. Spreading a backend would lose the methods
 * of its prototype (remove, putIfAbsent: what the revision log writer's lease needs).
 */
export function backendView(b: Backend, overrides: Partial<Backend> = {}): Backend {
  return {
    location: b.location,
    put: (k, body, o) => b.put(k, body, o),
    get: (k, o) => b.get(k, o),
    stat: (k, o) => b.stat(k, o),
    list: (p, o) => b.list(p, o),
    remove: (k, o) => b.remove(k, o),
    check: (o) => b.check(o),
    cleanupIncomplete: (p, ms, o) => b.cleanupIncomplete(p, ms, o),
    close: () => b.close(),
    ...(b.putIfAbsent
      ? { putIfAbsent: (k: string, d: Buffer, o?: { signal?: AbortSignal }) => b.putIfAbsent!(k, d, o) }
      : {}),
    ...overrides,
  };
}
