import { dockerCredentials } from '../oci/auth/credentials.js';
import type { FetchOptions } from '../oci/fetch.js';
import { parseReference, type Reference } from '../oci/reference.js';
import { Repository } from '../oci/repository.js';
import { Transport } from '../oci/transport.js';

/** The tags of a repository (its tag or digest, if written, is ignored), page by page. */
export async function listTags(repository: string, fetch: FetchOptions, pageSize?: number): Promise<{ ref: Reference; tags: string[] }> {
  const ref = parseReference(repository);
  const transport = new Transport(fetch);
  try {
    const repo = new Repository(ref, transport, fetch.credentials ?? dockerCredentials());
    return { ref, tags: await repo.listTags(pageSize) };
  } finally {
    transport.close();
  }
}
