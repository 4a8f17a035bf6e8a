import type { CachedDocument, DocumentCache } from '../../shared/net/document-cache.js';

/** DocumentCache in memory, for tests of sources that read it (Blob Storage implements it in a deployment). */
export class MemoryDocuments implements DocumentCache {
  readonly documents = new Map<string, CachedDocument>();
  puts = 0;

  get(url: string): Promise<CachedDocument | undefined> {
    return Promise.resolve(this.documents.get(url));
  }

  put(document: CachedDocument): Promise<void> {
    this.puts += 1;
    this.documents.set(document.url, document);
    return Promise.resolve();
  }
}
