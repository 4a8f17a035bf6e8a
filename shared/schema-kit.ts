import { z } from 'zod';
import { parseCidr, type Cidr } from './ipset.js';

/**
 * Pieces of the config schema that shared/config.ts and the sources' schemas (shared/sources/<type>/schema.ts)
 * both use. Light on purpose: zod and the CIDR parser only, so validating a config loads no source's behaviour.
 */

const HOSTNAME_PATTERN = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$/i;

/**
 * zod's own message for an unknown key does not say what would have been accepted, and a
 * misspelt key ("frontends") is the most common config mistake; listing the keys fixes it at a glance.
 */
export function strictObject<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  const accepted = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `the keys accepted here are: ${accepted}` : undefined),
  });
}

/** An address or CIDR as a person writes it, made canonical. */
export const cidr = z.string().transform((text, ctx): Cidr => {
  try {
    return parseCidr(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

export const hostname = z
  .string()
  .regex(HOSTNAME_PATTERN, 'must be a DNS hostname')
  .transform((name) => name.toLowerCase().replace(/\.$/, ''));

export const httpsUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

export const wildcardOr = <T extends z.ZodType>(item: T, accepted: string) =>
  z.union([z.literal('*'), z.array(item).min(1, `list at least one, or use "*" for all`)], {
    error: (issue) => (issue.code === 'invalid_union' ? `must be "*" (all) or a non-empty list of ${accepted}` : undefined),
  });
