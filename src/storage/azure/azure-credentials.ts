/**
 * Where an azblob:// target's credential comes from: the standard Azure environment, never the URL.
 * The first that applies wins:
 *  1. AZURE_STORAGE_CONNECTION_STRING: its AccountKey or SharedAccessSignature (and its BlobEndpoint
 *     when the URL names no endpoint). Its AccountName must be the URL's account: a connection string
 *     for another account is refused rather than used against the wrong one.
 *  2. AZURE_STORAGE_KEY: the shared key of the URL's account.
 *  3. AZURE_STORAGE_SAS_TOKEN: a shared access signature (with or without its leading '?').
 *  4. DefaultAzureCredential (@azure/identity, loaded only here): service principal environment
 *     (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or a certificate), workload identity,
 *     managed identity, then the Azure CLI's login.
 * `source` names the one chosen for messages; no secret ever leaves this module in a message.
 */
import { AnonymousCredential, StorageSharedKeyCredential, type newPipeline } from '@azure/storage-blob';
import { DrError } from '../../core/errors.js';
import type { AzblobStorageUrl } from '../url.js';

export type AzureCredentialSource =
  | 'AZURE_STORAGE_CONNECTION_STRING'
  | 'AZURE_STORAGE_KEY'
  | 'AZURE_STORAGE_SAS_TOKEN'
  | 'DefaultAzureCredential';

export interface AzureAuth {
  source: AzureCredentialSource;
  /** A shared key, anonymous (SAS), or an Azure AD token credential. */
  credential: NonNullable<Parameters<typeof newPipeline>[0]>;
  /** The blob service URL, without any SAS token. */
  serviceUrl: string;
  /** The SAS token to append to every request URL ('' when the credential is not a SAS). */
  sas: string;
}

/** Azurite's well-known development account (documented by Microsoft; not a secret). */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

function invalid(url: AzblobStorageUrl, reason: string): DrError {
  return new DrError('STORAGE_URL_INVALID', `storage URL ${url.redacted}: ${reason}`, {
    url: url.redacted,
    transient: false,
  });
}

/** `Key=Value;Key=Value` (a value may contain '='). Keys compared case-insensitively. */
export function parseConnectionString(cs: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of cs.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return out;
}

function defaultServiceUrl(account: string, protocol = 'https', suffix = 'core.windows.net'): string {
  return `${protocol}://${account}.blob.${suffix}`;
}

function fromConnectionString(url: AzblobStorageUrl, cs: string): AzureAuth {
  const kv = parseConnectionString(cs);
  const dev = kv.get('usedevelopmentstorage')?.toLowerCase() === 'true';
  const account = dev ? DEV_ACCOUNT : kv.get('accountname');
  const blobEndpoint = dev ? `http://127.0.0.1:10000/${DEV_ACCOUNT}` : kv.get('blobendpoint');
  if (account !== undefined && account !== url.account) {
    throw invalid(
      url,
      `AZURE_STORAGE_CONNECTION_STRING is for account "${account}", the URL names account "${url.account}"`,
    );
  }
  const serviceUrl = (
    url.endpoint ??
    blobEndpoint ??
    defaultServiceUrl(url.account, kv.get('defaultendpointsprotocol'), kv.get('endpointsuffix'))
  ).replace(/\/+$/, '');
  const key = dev ? DEV_KEY : kv.get('accountkey');
  if (key) {
    return {
      source: 'AZURE_STORAGE_CONNECTION_STRING',
      credential: new StorageSharedKeyCredential(url.account, key),
      serviceUrl,
      sas: '',
    };
  }
  const sas = kv.get('sharedaccesssignature');
  if (sas) {
    return {
      source: 'AZURE_STORAGE_CONNECTION_STRING',
      credential: new AnonymousCredential(),
      serviceUrl,
      sas: sas.replace(/^\?/, ''),
    };
  }
  throw invalid(url, 'AZURE_STORAGE_CONNECTION_STRING has neither AccountKey nor SharedAccessSignature');
}

/**
 * The credential for url from env (the CLI's and the daemon's process.env). Async because the last resort,
 * @azure/identity, is loaded only when it is needed.
 */
export async function resolveAzureAuth(url: AzblobStorageUrl, env: NodeJS.ProcessEnv): Promise<AzureAuth> {
  const cs = env.AZURE_STORAGE_CONNECTION_STRING;
  if (cs) return fromConnectionString(url, cs);
  const serviceUrl = url.endpoint ?? defaultServiceUrl(url.account);
  const key = env.AZURE_STORAGE_KEY;
  if (key) {
    return {
      source: 'AZURE_STORAGE_KEY',
      credential: new StorageSharedKeyCredential(url.account, key),
      serviceUrl,
      sas: '',
    };
  }
  const sas = env.AZURE_STORAGE_SAS_TOKEN;
  if (sas) {
    return {
      source: 'AZURE_STORAGE_SAS_TOKEN',
      credential: new AnonymousCredential(),
      serviceUrl,
      sas: sas.replace(/^\?/, ''),
    };
  }
  // The SDK refuses to send a bearer token in clear text; say so before anything is attempted.
  if (!serviceUrl.startsWith('https:')) {
    throw invalid(
      url,
      `endpoint ${serviceUrl} is not https: an Azure identity token is only sent over TLS; use https, or set AZURE_STORAGE_KEY, AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_SAS_TOKEN`,
    );
  }
  const { DefaultAzureCredential } = await import('@azure/identity');
  return { source: 'DefaultAzureCredential', credential: new DefaultAzureCredential(), serviceUrl, sas: '' };
}
