/**
 * The last complete read of an upstream document, kept per URL so a later run can ask the server whether it changed
 * (If-None-Match / If-Modified-Since) and, on 304, parse this copy instead of downloading it again. Per URL and not
 * per target or config, so every config of an app that watches one document shares one copy.
 */
export interface CachedDocument {
  readonly url: string;
  readonly text: string;
  readonly contentType: string;
  readonly etag?: string;
  readonly lastModified?: string;
  /** When the server last confirmed this copy (200 or 304), ISO 8601. */
  readonly validatedAt: string;
}

/** Where cached documents live (Blob Storage in a deployment); a read or write failure is the caller's to report, never fatal. */
export interface DocumentCache {
  get(url: string): Promise<CachedDocument | undefined>;
  put(document: CachedDocument): Promise<void>;
}
