import { Resolver } from 'node:dns/promises';
import pLimit from 'p-limit';
import type { DnsConfig } from '../config.js';
import { familyOf, parseCidr, type Cidr } from '../ipset.js';

export type AddressRecordType = 'A' | 'AAAA';

export type DnsFailureCode = 'dns-timeout' | 'dns-servfail' | 'dns-refused' | 'dns-bad-answer' | 'dns-error' | 'aborted';

export interface ResolvedAddress {
  readonly cidr: Cidr;
  readonly ttl: number;
}

/** The resolver could not say whether the name has records: nothing may be concluded from it. */
export interface DnsFailure {
  readonly outcome: 'failed';
  readonly code: DnsFailureCode;
  /** The c-ares error code (ETIMEOUT, ESERVFAIL, ...) or what was wrong with the answer. */
  readonly reason: string;
}

/** NXDOMAIN and "no data" are answers: the name (or the record type) does not exist. */
export type Absence = { readonly outcome: 'nxdomain' } | { readonly outcome: 'nodata' };

export type AddressLookup = { readonly outcome: 'answered'; readonly records: readonly ResolvedAddress[] } | Absence | DnsFailure;

export type AliasLookup = { readonly outcome: 'alias'; readonly target: string } | Absence | DnsFailure;

/** One resolver, shared by every query of a run, with the run's concurrency bound. */
export interface DnsClient {
  /** "address:port" of the configured (or first system) resolver, for evidence and messages. */
  readonly resolver: string;
  addresses(hostname: string, type: AddressRecordType): Promise<AddressLookup>;
  /** The CNAME of a name (one hop); absence means the name is not an alias. */
  alias(hostname: string): Promise<AliasLookup>;
}

/**
 * Uses c-ares (node:dns Resolver), not getaddrinfo: it asks the configured servers directly,
 * bypasses the OS cache and does not occupy the libuv thread pool, and it reports TTLs.
 */
export function createDnsClient(settings: DnsConfig, signal?: AbortSignal): DnsClient {
  const resolver = new Resolver({ timeout: settings.timeoutMs, tries: settings.tries });
  if (settings.servers) resolver.setServers(settings.servers);
  const limit = pLimit(settings.concurrency);
  signal?.addEventListener('abort', () => resolver.cancel(), { once: true });
  const first = settings.servers?.[0] ?? resolver.getServers()[0];

  return {
    resolver: first === undefined ? 'the system resolver' : resolverLabel(first),
    addresses: (hostname, type) =>
      limit(async (): Promise<AddressLookup> => {
        if (signal?.aborted) return cancelled;
        try {
          const answers =
            type === 'A' ? await resolver.resolve4(hostname, { ttl: true }) : await resolver.resolve6(hostname, { ttl: true });
          return validateAddresses(answers, type);
        } catch (error) {
          return classifyError(error, signal);
        }
      }),
    alias: (hostname) =>
      limit(async (): Promise<AliasLookup> => {
        if (signal?.aborted) return cancelled;
        try {
          const [target] = await resolver.resolveCname(hostname);
          if (target === undefined) return { outcome: 'nodata' };
          return { outcome: 'alias', target: target.toLowerCase().replace(/\.$/, '') };
        } catch (error) {
          return classifyError(error, signal);
        }
      }),
  };
}

/** What one resolver said to one question: any answer, NXDOMAIN included, shows it is serving. */
export type ResolverProbe =
  | { readonly answering: true; readonly outcome: 'answered' | 'nxdomain' | 'nodata'; readonly ms: number }
  | { readonly answering: false; readonly failure: DnsFailure; readonly ms: number };

/**
 * Asks one resolver for the A records of one name, with the configured timeout and tries (allowlist-drift doctor).
 * One query, or `tries` when it stays silent.
 */
export async function probeResolver(
  server: string,
  settings: Pick<DnsConfig, 'timeoutMs' | 'tries'>,
  hostname: string,
): Promise<ResolverProbe> {
  const resolver = new Resolver({ timeout: settings.timeoutMs, tries: settings.tries });
  resolver.setServers([server]);
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    const lookup = validateAddresses(await resolver.resolve4(hostname, { ttl: true }), 'A');
    if (lookup.outcome === 'failed') return { answering: false, failure: lookup, ms: ms() };
    return { answering: true, outcome: lookup.outcome, ms: ms() };
  } catch (error) {
    const lookup = classifyError(error);
    if (lookup.outcome === 'failed') return { answering: false, failure: lookup, ms: ms() };
    return { answering: true, outcome: lookup.outcome, ms: ms() };
  }
}

/** The resolvers a run asks: the configured ones, else the system's (as "address" or "[v6]:port" text). */
export function resolversOf(settings: Pick<DnsConfig, 'servers'>): string[] {
  return settings.servers ? [...settings.servers] : new Resolver().getServers();
}

const cancelled: DnsFailure = { outcome: 'failed', code: 'aborted', reason: 'the run was cancelled' };

/** Checks each answer once, here at the edge, so callers only ever see canonical CIDRs of the asked family. */
export function validateAddresses(answers: readonly { address: string; ttl: number }[], type: AddressRecordType): AddressLookup {
  if (answers.length === 0) return { outcome: 'nodata' };
  const records: ResolvedAddress[] = [];
  for (const { address, ttl } of answers) {
    let cidr: Cidr;
    try {
      cidr = parseCidr(address);
    } catch {
      return { outcome: 'failed', code: 'dns-bad-answer', reason: `${JSON.stringify(address.slice(0, 64))} is not an IP address` };
    }
    if (familyOf(cidr) !== (type === 'A' ? 4 : 6)) {
      return { outcome: 'failed', code: 'dns-bad-answer', reason: `${address} is not an ${type === 'A' ? 'IPv4' : 'IPv6'} address` };
    }
    if (!Number.isInteger(ttl) || ttl < 0) return { outcome: 'failed', code: 'dns-bad-answer', reason: `TTL ${ttl} is not valid` };
    records.push({ cidr, ttl });
  }
  return { outcome: 'answered', records };
}

/** Only NXDOMAIN and NODATA say something about the name; every other failure is "unknown". */
export function classifyError(error: unknown, signal?: AbortSignal): Absence | DnsFailure {
  const code = (error as { code?: unknown }).code;
  const reason = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ENOTFOUND':
      return { outcome: 'nxdomain' };
    case 'ENODATA':
      return { outcome: 'nodata' };
    case 'ETIMEOUT':
      return { outcome: 'failed', code: 'dns-timeout', reason };
    case 'ESERVFAIL':
      return { outcome: 'failed', code: 'dns-servfail', reason };
    case 'EREFUSED':
      return { outcome: 'failed', code: 'dns-refused', reason };
    case 'EBADRESP':
      return { outcome: 'failed', code: 'dns-bad-answer', reason: `${reason} (a malformed reply)` };
    case 'ECANCELLED':
      return { outcome: 'failed', code: signal?.aborted ? 'aborted' : 'dns-error', reason };
    default:
      return { outcome: 'failed', code: 'dns-error', reason };
  }
}

/** "192.0.2.53" -> "192.0.2.53:53", "2001:db8::53" -> "[2001:db8::53]:53"; forms with a port are kept. */
export function resolverLabel(server: string): string {
  if (server.startsWith('[')) return server.includes(']:') ? server : `${server}:53`;
  if (server.includes(':') && server.indexOf(':') !== server.lastIndexOf(':')) return `[${server}]:53`;
  return server.includes(':') ? server : `${server}:53`;
}
