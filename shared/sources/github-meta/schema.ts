import { z } from 'zod';
import { httpsUrl, wildcardOr } from '../../schema-kit.js';
import { defineSource, unchangedNote } from '../source.js';

/** GitHub.com's meta endpoint; GitHub Enterprise Server answers at https://HOST/api/v3/meta. */
export const DEFAULT_GITHUB_META_URL = 'https://api.github.com/meta';

/** The list of the meta document an address was in. */
export const githubMetaEvidence = z.object({
  kind: z.literal('github-meta'),
  /** The document's key ("hooks", "actions"). */
  key: z.string(),
  /** The document has no version: "sha256:" and the first 16 hex digits of the SHA-256 of the bytes served. */
  revision: z.string(),
  /** The document's address, so a PR links to what it cites. */
  url: z.string().optional(),
  /** The server's validator, when it sent one. */
  etag: z.string().optional(),
  /** Set when the server answered 304: the cached document was read, which it last sent in full at this time. */
  unchangedSince: z.string().optional(),
});
export type GitHubMetaEvidence = Readonly<z.output<typeof githubMetaEvidence>>;

export const githubMeta = defineSource({
  fields: {
    url: httpsUrl.default(DEFAULT_GITHUB_META_URL).meta({
      description:
        'The meta endpoint (default https://api.github.com/meta; GitHub Enterprise Server: https://HOST/api/v3/meta). The GitHub credentials go with the request only when it is on the github.apiUrl origin over https.',
    }),
    keys: wildcardOr(
      z.string().regex(/^[a-z0-9_]{1,100}$/, 'must be a key of the meta document such as "hooks" or "actions"'),
      'keys of the meta document such as ["hooks", "actions"]',
    ),
  },
  evidence: [githubMetaEvidence],
  configured: [],
  schedule: 'CAS_SCHEDULE',
  doctor: {
    upstream: (target) => ({ check: 'upstream', key: target.url, what: 'the document' }),
    fix: ({ status }) => {
      if (status === 401) return 'GitHub refused the credentials: check GITHUB_TOKEN or the GitHub App settings.';
      if (status === 404) return 'Set url to https://api.github.com/meta, or https://HOST/api/v3/meta for GitHub Enterprise Server.';
      if (status === 403 || status === 429) return 'GitHub rate-limited the request: configure GitHub credentials so it is authenticated.';
      return undefined;
    },
  },
  describe: (evidence, inert) =>
    `GitHub meta list "${inert(evidence.key)}", document ${inert(evidence.revision)}` +
    `${evidence.unchangedSince ? `, ${inert(unchangedNote(evidence.unchangedSince))}` : ''}`,
  cite: (evidence, inert, link) => ({
    source: `${evidence.url ? link(evidence.url, 'GitHub meta') : 'GitHub meta'} revision ${inert(evidence.revision)}`,
    place: `"${inert(evidence.key)}"`,
    ...(evidence.unchangedSince ? { detail: inert(unchangedNote(evidence.unchangedSince)) } : {}),
  }),
});
