import { MemoryBackend } from '../../src/storage/memory/memory-backend.js';
import { testBackend } from './conformance.js';

// The memory backend keeps no temporaries, so there is never anything left over to look for.
testBackend('memory (in-process)', async () => ({
  backend: new MemoryBackend('conformance'),
  leftovers: async () => [],
  cleanupUnsupported: 'nothing to clean: objects exist only once complete',
  teardown: async () => undefined,
}));
