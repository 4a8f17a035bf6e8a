import type { GitHubPeer } from '../index.js';
import type { Reply } from '../replies.js';

/** A request that passed GitHub's OpenAPI validation, as an operation reads it. */
export interface Input {
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body: Record<string, unknown>;
  accept: string;
  /** The If-None-Match request header, empty when absent. */
  ifNoneMatch: string;
  /** The Authorization request header, empty when absent. */
  authorization: string;
}

/** One GitHub REST operation, carried out on the peer's state. */
export type Operation = (peer: GitHubPeer, input: Input) => Reply;
