// The per-process memo in front of the Blob document cache: a worker that checks many configs reads the same few
// documents (the CAS page, the 4 MB service-tags file) for each of them; downloading and inflating each copy once per
// config cost more CPU than the rest of the check. The blob stays the truth: the memo only saves reading a body the
// blob's own validators say this process already holds.
import type { CachedDocument } from '../net/document-cache.js';

/** Copies kept per process, the least recently used dropped first; a few URLs are all a config watches. */
const MAX_DOCUMENTS = 8;
/** Characters of copy text kept in all (UTF-16 in memory: twice as many bytes); a larger copy is not kept at all. */
const MAX_TEXT_CHARS = 16 * 1024 * 1024;

/** A decoded copy and the blob version it was read from. */
interface MemoEntry {
  /** The decoded envelope (no confirmedAt: that is blob metadata, read with every version check). */
  readonly document: CachedDocument;
  /** The blob's ETag when this copy was read or written; metadata writes change it. */
  readonly etag: string;
  /** The blob's Content-MD5 (Blob Storage computes it for a single-request upload): the body's own identity. */
  readonly md5?: string;
  /** The blob's length in bytes, checked beside the MD5. */
  readonly length?: number;
}

/** What a version check (a HEAD) of the blob says. */
interface BlobVersion {
  readonly etag?: string;
  readonly contentMD5?: Uint8Array;
  readonly contentLength?: number;
}

export class DocumentMemo {
  private readonly entries = new Map<string, MemoEntry>();

  constructor(
    private readonly limits: { readonly documents: number; readonly textChars: number } = {
      documents: MAX_DOCUMENTS,
      textChars: MAX_TEXT_CHARS,
    },
  ) {}

  /**
   * The copy for `key` when `version` is the blob it was read from, or the same body under new metadata (the ETag
   * changed but the MD5 and length did not, as after a confirmation); else undefined and the blob is read in full.
   */
  match(key: string, version: BlobVersion): MemoEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry || !version.etag) return undefined;
    const same =
      entry.etag === version.etag ||
      (entry.md5 !== undefined &&
        version.contentMD5 !== undefined &&
        entry.length === version.contentLength &&
        entry.md5 === md5Of(version.contentMD5));
    if (!same) return undefined;
    const current = { ...entry, etag: version.etag };
    this.remember(key, current);
    return current;
  }

  /** Keeps a copy just read or written, evicting the least recently used beyond the limits; returns the copy as kept. */
  remember(key: string, entry: MemoEntry): CachedDocument {
    this.entries.delete(key);
    if (entry.document.text.length > this.limits.textChars) return entry.document;
    const document = Object.isFrozen(entry.document) ? entry.document : Object.freeze({ ...entry.document });
    this.entries.set(key, { ...entry, document });
    let chars = 0;
    for (const kept of this.entries.values()) chars += kept.document.text.length;
    for (const [oldest, kept] of this.entries) {
      if (this.entries.size <= this.limits.documents && chars <= this.limits.textChars) break;
      this.entries.delete(oldest);
      chars -= kept.document.text.length;
    }
    return document;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  /** The keys kept, least recently used first (how the eviction order is seen from outside). */
  keys(): string[] {
    return [...this.entries.keys()];
  }
}

export function md5Of(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('base64');
}

/** One memo per process, shared by every cache this process opens (keys name the account, container and blob). */
export const processDocumentMemo = new DocumentMemo();
