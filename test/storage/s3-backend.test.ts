import { S3Backend } from '../../src/storage/s3/s3-backend.js';
import { parseStorageUrl, type S3StorageUrl } from '../../src/storage/url.js';
import { startS3rver } from '../helpers/s3rver.js';
import { recordRefusedAborts } from './s3-test-utils.js';
import { testBackend } from './conformance.js';

testBackend('s3:// (s3rver)', async () => {
  const s3 = await startS3rver('conformance');
  const backend = new S3Backend(parseStorageUrl(s3.url('backups/')) as S3StorageUrl);
  return {
    backend,
    leftovers: () => s3.pendingUploads(),
    refusedCleanups: recordRefusedAborts(backend),
    cleanupUnsupported: 's3rver 3.7 implements neither ListMultipartUploads nor AbortMultipartUpload',
    teardown: () => s3.stop(),
  };
});
