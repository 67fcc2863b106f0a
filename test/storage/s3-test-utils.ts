import type { S3Backend } from '../../src/storage/s3/s3-backend.js';

/**
 * Watches the backend's S3 client for AbortMultipartUpload requests the server refused (s3rver answers
 * 405 to every one) and returns a getter for their upload ids. Proves the backend did ask for the abort.
 */
export function recordRefusedAborts(backend: S3Backend): () => Promise<string[]> {
  const refused: string[] = [];
  backend.client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (context.commandName === 'AbortMultipartUploadCommand') {
          refused.push((args.input as { UploadId: string }).UploadId);
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'recordRefusedAborts' },
  );
  return async () => [...refused];
}
