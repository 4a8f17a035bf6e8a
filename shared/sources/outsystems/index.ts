import type { OutSystemsTarget } from '../../config.js';
import { sortCidrs, type Cidr } from '../../ipset.js';
import { createDnsClient, type AddressLookup, type AddressRecordType, type DnsClient, type DnsFailure } from '../../net/dns.js';
import type { Problem } from '../../problem.js';
import { observing, type EntryEvidence, type ObservationStatus, type ObservedEntry, type Source } from '../source.js';
import { checkLifeTime } from './lifetime.js';
import type { DnsEvidence } from './schema.js';

/**
 * Names that only ever front incoming traffic. OutSystems: "the LB address isn't the correct one to allowlist ...
 * OutSystems Cloud LBs do not have static IP addresses"; outgoing connections come from the front-ends' elastic IPs.
 * - elb.amazonaws.com(.cn): every AWS Elastic Load Balancing name (classic, application, network), where OutSystems Cloud runs;
 * - cloudfront.net, awsglobalaccelerator.com: AWS edge services in front of an environment;
 * - azurefd.net, azureedge.net, trafficmanager.net: their Azure counterparts (Front Door, CDN, DNS load balancing).
 * cloudapp.azure.com is left out on purpose: it also names single VMs' public IPs, which can be static.
 */
export const LOAD_BALANCER_SUFFIXES = [
  'elb.amazonaws.com',
  'elb.amazonaws.com.cn',
  'cloudfront.net',
  'awsglobalaccelerator.com',
  'azurefd.net',
  'azureedge.net',
  'trafficmanager.net',
] as const;

/** Some ELB names put the region after "elb": name.elb.<region>.amazonaws.com. */
const REGIONAL_ELB = /(^|\.)elb\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/** Real chains are one or two hops; a longer one is a loop or a misconfiguration. */
const MAX_CNAME_CHAIN = 8;

const WHERE_FRONT_ENDS_ARE = 'List the front-end servers shown in Service Center > Monitoring > Environment Health instead';

interface ObservedAddress {
  readonly cidr: Cidr;
  readonly evidence: DnsEvidence;
}

/** What one front-end hostname amounted to. Only "answered" contributes entries. */
export type HostOutcome =
  | { readonly kind: 'answered'; readonly hostname: string; readonly addresses: readonly ObservedAddress[] }
  /** NXDOMAIN or no A/AAAA data: a real answer, reported as a warning. */
  | { readonly kind: 'absent'; readonly hostname: string; readonly problem: Problem }
  /** The resolver could not tell: previous entries must stay. */
  | { readonly kind: 'unknown'; readonly hostname: string; readonly problem: Problem }
  /** Answered, but with load-balancer addresses that must not be allowlisted. */
  | { readonly kind: 'refused'; readonly hostname: string; readonly problem: Problem };

type Round =
  | { readonly kind: 'answered'; readonly addresses: readonly ObservedAddress[] }
  | { readonly kind: 'absent'; readonly problem: Problem }
  | { readonly kind: 'failed'; readonly problem: Problem };

/** Resolves the OutSystems front-ends (A and AAAA) and adds the configured VPN ranges; cross-checks the count with LifeTime. */
export const observeOutSystems: Source<OutSystemsTarget> = observing(async (target, context) => {
  const dns = createDnsClient(context.config.dns, context.signal);
  const rounds = context.config.dns.stabilityQueries;
  const [outcomes, lifetime] = await Promise.all([
    Promise.all(target.frontEnds.map((hostname) => resolveFrontEnd(hostname, { target, dns, rounds, now: context.now }))),
    checkLifeTime(target, context),
  ]);
  const summary = summarise(target, outcomes);
  return {
    status: summary.status,
    entries: summary.entries,
    warnings: [...summary.warnings, ...lifetime.warnings],
    errors: summary.errors,
    ...(lifetime.reportedFrontEnds === undefined ? {} : { facts: { lifetimeFrontEnds: lifetime.reportedFrontEnds } }),
  };
});

/** How a front-end is asked: through which client, how many identical rounds, against which environment address. */
export interface FrontEndQuery {
  readonly target: Pick<OutSystemsTarget, 'environmentHost'>;
  readonly dns: DnsClient;
  readonly rounds: number;
  readonly now: () => Date;
}

/**
 * Refuses what the OutSystems article calls the common mistake (the environment address, or any name
 * behind a load balancer), then queries A and AAAA `rounds` times and accepts only identical answers.
 */
export async function resolveFrontEnd(hostname: string, asking: FrontEndQuery): Promise<HostOutcome> {
  const { target, dns, rounds, now } = asking;
  if (hostname === target.environmentHost) {
    return refused(
      hostname,
      'load-balancer',
      `Front-end ${hostname} is the environment address (environmentHost): it resolves to the load balancers, whose IPs are not static and ` +
        `which do not carry outgoing connections. ${WHERE_FRONT_ENDS_ARE}.`,
    );
  }
  const chain = await followAliases(hostname, dns);
  if (chain.kind !== 'chain') return chain;
  const balancer = chain.names.find(isLoadBalancerName);
  if (balancer !== undefined) {
    return refused(
      hostname,
      'load-balancer',
      `Front-end ${hostname} resolves through ${balancer} (via resolver ${dns.resolver}), a load balancer name: its IPs are not static and ` +
        `outgoing connections come from the front-end servers, so its addresses are not allowlisted. ${WHERE_FRONT_ENDS_ARE}.`,
    );
  }

  const first = await queryRound(hostname, dns, now);
  if (first.kind === 'failed') return { kind: 'unknown', hostname, problem: first.problem };
  for (let round = 1; round < rounds; round++) {
    const current = await queryRound(hostname, dns, now);
    if (current.kind === 'failed') return { kind: 'unknown', hostname, problem: current.problem };
    if (describeRound(current) !== describeRound(first)) {
      return refused(
        hostname,
        'unstable-answers',
        `Front-end ${hostname} gave different answers to consecutive queries via resolver ${dns.resolver} (${describeRound(first)}, then ` +
          `${describeRound(current)}). A front-end has a static elastic IP; changing answers mean a load balancer or DNS rotation, so none ` +
          `of them is allowlisted. ${WHERE_FRONT_ENDS_ARE}.`,
      );
    }
  }
  return first.kind === 'answered'
    ? { kind: 'answered', hostname, addresses: first.addresses }
    : { kind: 'absent', hostname, problem: first.problem };
}

export function isLoadBalancerName(name: string): boolean {
  const lower = name.toLowerCase().replace(/\.$/, '');
  return REGIONAL_ELB.test(lower) || LOAD_BALANCER_SUFFIXES.some((suffix) => lower === suffix || lower.endsWith(`.${suffix}`));
}

type ChainResult = { readonly kind: 'chain'; readonly names: readonly string[] } | Extract<HostOutcome, { kind: 'unknown' }>;

/** The host and every CNAME target after it, one query per hop. */
async function followAliases(hostname: string, dns: DnsClient): Promise<ChainResult> {
  const names = [hostname];
  for (let hop = 0; hop < MAX_CNAME_CHAIN; hop++) {
    const current = names[names.length - 1]!;
    const lookup = await dns.alias(current);
    if (lookup.outcome === 'nxdomain' || lookup.outcome === 'nodata') return { kind: 'chain', names };
    if (lookup.outcome === 'failed') return { kind: 'unknown', hostname, problem: failureProblem(hostname, 'CNAME', lookup, dns.resolver) };
    if (names.includes(lookup.target)) break;
    names.push(lookup.target);
  }
  return {
    kind: 'unknown',
    hostname,
    problem: {
      code: 'dns-error',
      message: `Front-end ${hostname}: the CNAME chain via resolver ${dns.resolver} loops or is longer than ${MAX_CNAME_CHAIN} names (${names.join(' -> ')}); its entries are kept as they were`,
    },
  };
}

async function queryRound(hostname: string, dns: DnsClient, now: () => Date): Promise<Round> {
  const [a, aaaa] = await Promise.all([dns.addresses(hostname, 'A'), dns.addresses(hostname, 'AAAA')]);
  const at = now().toISOString();
  const lookups: Array<[AddressRecordType, AddressLookup]> = [
    ['A', a],
    ['AAAA', aaaa],
  ];
  const addresses: ObservedAddress[] = [];
  for (const [recordType, lookup] of lookups) {
    if (lookup.outcome === 'failed') return { kind: 'failed', problem: failureProblem(hostname, recordType, lookup, dns.resolver) };
    if (lookup.outcome !== 'answered') continue;
    for (const { cidr, ttl } of lookup.records) {
      addresses.push({ cidr, evidence: { kind: 'dns', hostname, recordType, ttl, resolver: dns.resolver, at } });
    }
  }
  if (addresses.length > 0) return { kind: 'answered', addresses };
  if (a.outcome === 'nxdomain' || aaaa.outcome === 'nxdomain') {
    return {
      kind: 'absent',
      problem: {
        code: 'dns-nxdomain',
        message:
          `Front-end ${hostname} does not exist (NXDOMAIN from resolver ${dns.resolver}). If it was retired, remove it from "frontEnds"; ` +
          'the current front-ends are listed in Service Center > Monitoring > Environment Health.',
      },
    };
  }
  return {
    kind: 'absent',
    problem: { code: 'dns-nodata', message: `Front-end ${hostname} exists but has no A or AAAA records at resolver ${dns.resolver}.` },
  };
}

/** A stable text of a round's outcome: the sorted address set, or the absence code. */
function describeRound(round: Exclude<Round, { kind: 'failed' }>): string {
  if (round.kind === 'absent') return round.problem.code === 'dns-nxdomain' ? 'NXDOMAIN' : 'no records';
  return `[${sortCidrs(round.addresses.map((a) => a.cidr)).join(', ')}]`;
}

function failureProblem(hostname: string, query: AddressRecordType | 'CNAME', failure: DnsFailure, resolver: string): Problem {
  const what: Record<DnsFailure['code'], string> = {
    'dns-timeout': 'timed out',
    'dns-servfail': 'failed at the resolver (SERVFAIL)',
    'dns-refused': 'was refused by the resolver (REFUSED)',
    'dns-bad-answer': 'returned a malformed or invalid answer',
    'dns-error': 'failed',
    aborted: 'was cancelled',
  };
  return {
    code: failure.code,
    message: `Front-end ${hostname}: the ${query} query to resolver ${resolver} ${what[failure.code]} (${failure.reason}); its entries are kept as they were.`,
  };
}

function refused(hostname: string, code: 'load-balancer' | 'unstable-answers', message: string): HostOutcome {
  return { kind: 'refused', hostname, problem: { code, message } };
}

interface Summary {
  readonly status: ObservationStatus;
  readonly entries: readonly ObservedEntry[];
  readonly warnings: readonly Problem[];
  readonly errors: readonly Problem[];
}

/**
 * ok only when every front-end answered or is absent; partial keeps the failed hosts' previous entries;
 * error when no front-end answered at all, since an empty front-end list would otherwise read as "remove everything".
 */
export function summarise(target: Pick<OutSystemsTarget, 'id' | 'vpnRanges'>, outcomes: readonly HostOutcome[]): Summary {
  const warnings = outcomes.flatMap((o) => (o.kind === 'absent' ? [o.problem] : []));
  const errors = outcomes.flatMap((o) => (o.kind === 'unknown' || o.kind === 'refused' ? [o.problem] : []));
  const answered = outcomes.filter((o) => o.kind === 'answered');
  if (answered.length === 0) {
    const nothing: Problem = {
      code: 'dns-no-addresses',
      message: `Target "${target.id}": none of its ${outcomes.length} front-end(s) resolved to an address, so nothing was observed and no entry is removed.`,
    };
    return { status: 'error', entries: [], warnings, errors: errors.length > 0 ? errors : [nothing] };
  }

  const evidence = new Map<Cidr, EntryEvidence[]>();
  const add = (cidr: Cidr, item: EntryEvidence) => {
    const list = evidence.get(cidr) ?? [];
    if (!list.some((known) => sameSource(known, item))) list.push(item);
    evidence.set(cidr, list);
  };
  for (const outcome of answered) for (const { cidr, evidence: item } of outcome.addresses) add(cidr, item);
  for (const range of target.vpnRanges) add(range, { kind: 'vpn' });

  const entries = sortCidrs([...evidence.keys()]).map((cidr) => ({ cidr, evidence: evidence.get(cidr) ?? [] }));
  return { status: errors.length > 0 ? 'partial' : 'ok', entries, warnings, errors };
}

/** A repeated record in one answer, or a VPN range listed twice, is one piece of evidence. */
function sameSource(a: EntryEvidence, b: EntryEvidence): boolean {
  if (a.kind === 'dns' && b.kind === 'dns') return a.hostname === b.hostname && a.recordType === b.recordType;
  return a.kind === b.kind && a.kind === 'vpn';
}
