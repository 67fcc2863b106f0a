/**
 * The order of the Azure credential chain (azure-credentials.ts), decided from the environment alone
 * (no request is made: DefaultAzureCredential only looks for a token when asked for one).
 */
import { AnonymousCredential, StorageSharedKeyCredential } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { parseConnectionString, resolveAzureAuth } from '../../src/storage/azure/azure-credentials.js';
import { parseStorageUrl, type AzblobStorageUrl } from '../../src/storage/url.js';

const url = parseStorageUrl('azblob://backups/p?account=acme01') as AzblobStorageUrl;
const key = Buffer.from('not-a-real-key').toString('base64');

describe('resolveAzureAuth', () => {
  it('connection string, then shared key, then SAS token, then DefaultAzureCredential', async () => {
    const cs = `DefaultEndpointsProtocol=https;AccountName=acme01;AccountKey=${key};EndpointSuffix=core.usgovcloudapi.net`;
    const all = {
      AZURE_STORAGE_CONNECTION_STRING: cs,
      AZURE_STORAGE_KEY: key,
      AZURE_STORAGE_SAS_TOKEN: '?sv=1&sig=x',
    };
    const a = await resolveAzureAuth(url, all);
    expect(a.source).toBe('AZURE_STORAGE_CONNECTION_STRING');
    expect(a.serviceUrl).toBe('https://acme01.blob.core.usgovcloudapi.net');
    expect(a.credential).toBeInstanceOf(StorageSharedKeyCredential);

    const { AZURE_STORAGE_CONNECTION_STRING: _cs, ...noCs } = all;
    const b = await resolveAzureAuth(url, noCs);
    expect(b.source).toBe('AZURE_STORAGE_KEY');
    expect(b.serviceUrl).toBe('https://acme01.blob.core.windows.net');
    expect((b.credential as StorageSharedKeyCredential).accountName).toBe('acme01');

    const c = await resolveAzureAuth(url, { AZURE_STORAGE_SAS_TOKEN: '?sv=1&sig=x' });
    expect(c.source).toBe('AZURE_STORAGE_SAS_TOKEN');
    expect(c.credential).toBeInstanceOf(AnonymousCredential);
    expect(c.sas).toBe('sv=1&sig=x');

    const d = await resolveAzureAuth(url, {});
    expect(d.source).toBe('DefaultAzureCredential');
    expect(typeof (d.credential as { getToken?: unknown }).getToken).toBe('function');
  });

  it("the URL's endpoint wins over the connection string's BlobEndpoint", async () => {
    const withEp = parseStorageUrl(
      'azblob://backups/p?account=acme01&endpoint=https://private.example',
    ) as AzblobStorageUrl;
    const a = await resolveAzureAuth(withEp, {
      AZURE_STORAGE_CONNECTION_STRING: `AccountName=acme01;AccountKey=${key};BlobEndpoint=https://other.example`,
    });
    expect(a.serviceUrl).toBe('https://private.example');
  });

  it('a connection string with a SAS and no key; one with neither is refused', async () => {
    const a = await resolveAzureAuth(url, {
      AZURE_STORAGE_CONNECTION_STRING:
        'BlobEndpoint=https://acme01.blob.core.windows.net/;SharedAccessSignature=sv=1&sig=abc=',
    });
    expect(a.sas).toBe('sv=1&sig=abc=');
    expect(a.serviceUrl).toBe('https://acme01.blob.core.windows.net');
    const err = await resolveAzureAuth(url, { AZURE_STORAGE_CONNECTION_STRING: 'AccountName=acme01' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).code).toBe('STORAGE_URL_INVALID');
  });

  it('parses connection strings whose values contain "="', () => {
    const kv = parseConnectionString(`AccountName=a;AccountKey=${key};`);
    expect(kv.get('accountkey')).toBe(key);
  });
});
