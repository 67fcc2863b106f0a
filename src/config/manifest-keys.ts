/** The config's manifest keys (`manifests:`) as the manifest module takes them, read once per config load. */
import type { KeyObject } from 'node:crypto';
import {
  loadSigningKey,
  loadVerifyKeys,
  NO_TRUST,
  type ManifestTrust,
} from '../manifest/manifest-signature.js';
import type { Config } from './load.js';

export function manifestTrustOf(config: Pick<Config, 'file' | 'manifests'>): ManifestTrust {
  const file = config.manifests.verifyKeyFile;
  return file ? { verifyKeys: loadVerifyKeys([file], `${config.file}: manifests.verifyKeyFile`) } : NO_TRUST;
}

export function signingKeyOf(config: Pick<Config, 'file' | 'manifests'>): KeyObject | null {
  const file = config.manifests.signKeyFile;
  return file ? loadSigningKey(file, `${config.file}: manifests.signKeyFile`) : null;
}
