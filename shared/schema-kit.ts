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

/**
 * A URL a credential is sent to (a GitHub token, the LifeTime token, an Azure access token): plain http would hand
 * it to anyone on the path, so only https is accepted, except to this machine (local emulators and test peers).
 */
export const tokenUrl = httpsUrl.refine((text) => {
  // Anything but http (not a URL, another scheme) is httpsUrl's complaint already.
  const url = URL.parse(text);
  return url?.protocol !== 'http:' || isLoopback(url.hostname);
}, 'must be an https URL (a token is sent to it); plain http is accepted only for this machine (localhost, 127.0.0.0/8, [::1])');

function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  // WHATWG URL parsing already turned every IPv4 spelling (0x7f.1, 2130706433) into dotted decimal.
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export const wildcardOr = <T extends z.ZodType>(item: T, accepted: string) =>
  z.union([z.literal('*'), z.array(item).min(1, `list at least one, or use "*" for all`)], {
    error: (issue) => (issue.code === 'invalid_union' ? `must be "*" (all) or a non-empty list of ${accepted}` : undefined),
  });

/** A media type as a server sends it, without parameters ("application/json", "binary/octet-stream"); compared lowercase. */
export const mediaType = z
  .string()
  .regex(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i, 'must be a media type such as "text/plain", without parameters')
  .transform((type) => type.toLowerCase());
