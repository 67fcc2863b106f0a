import vm from 'node:vm';

/**
 * A full garbage collection when the process was started with gc exposed (dr's CLI does it in
 * v8-tuning.ts), else nothing. Long reads of big files call it every few MiB so that buffers they
 * dropped do not pile up (see v8-tuning.ts for the measurements).
 */
export const collectGarbage: () => void = (() => {
  try {
    const gc = vm.runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;
    return gc ?? (() => undefined);
  } catch {
    return () => undefined;
  }
})();
