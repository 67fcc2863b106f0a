import { openAzureBackend } from '../../src/storage/azure/azure-backend.js';
import { parseStorageUrl, type AzblobStorageUrl } from '../../src/storage/url.js';
import { startAzurite } from '../helpers/azurite.js';
import { testBackend } from './conformance.js';

testBackend('azblob:// (Azurite)', async () => {
  const az = await startAzurite('conformance');
  const backend = await openAzureBackend(parseStorageUrl(az.url('backups/')) as AzblobStorageUrl, {
    env: az.env,
  });
  return {
    backend,
    leftovers: () => az.uncommittedBlobs(),
    // What a put killed mid-upload leaves: staged blocks under the name, never committed.
    plantLeftover: async (key) => {
      const blob = az.containerClient().getBlockBlobClient(`backups/${key}`);
      const block = Buffer.from('leftover block');
      await blob.stageBlock(Buffer.from('planted-000000').toString('base64'), block, block.length);
    },
    teardown: () => az.stop(),
  };
});
