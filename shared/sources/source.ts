import type { CasSection, Config, Target } from '../config.js';
import type { Cidr } from '../ipset.js';
import type { Problem } from '../problem.js';

/** Why an address is in an observation; shown to reviewers in the PR body. */
export type EntryEvidence = DnsEvidence | CasEvidence | ServiceTagEvidence | ConfiguredEvidence;

export interface DnsEvidence {
  readonly kind: 'dns';
  readonly hostname: string;
  readonly recordType: 'A' | 'AAAA';
  readonly ttl: number;
  /** The resolver that answered, "address:port". */
  readonly resolver: string;
  readonly at: string;
}

export interface CasEvidence {
  readonly kind: 'cas';
  readonly section: CasSection;
  /** Stable code (US1, EU2, GOV-US1, GCC) or, for the proxy tables, the region ("west-europe"); "global" for the mail server. */
  readonly dataCenter: string;
  /** The heading (and table row label) the address stood under, verbatim. */
  readonly heading: string;
  /** The page's ms.date, when it has one. */
  readonly revision?: string;
}

export interface ServiceTagEvidence {
  readonly kind: 'service-tag';
  readonly tag: string;
  readonly tagChangeNumber: number;
  readonly fileChangeNumber: number;
}

/** Written in the config by a person (static entries, OutSystems VPN ranges): trusted, so the special-range guard skips them. */
export interface ConfiguredEvidence {
  readonly kind: 'static' | 'vpn';
}

export interface ObservedEntry {
  readonly cidr: Cidr;
  readonly evidence: readonly EntryEvidence[];
}

/**
 * ok: every part of the target answered, so absence is meaningful;
 * partial: some parts answered and some did not (their previous entries must stay);
 * error: nothing usable was observed.
 */
export type ObservationStatus = 'ok' | 'partial' | 'error';

export interface Observation {
  readonly targetId: string;
  readonly type: Target['type'];
  readonly observedAt: string;
  readonly status: ObservationStatus;
  /** Canonical CIDRs, unique, sorted (IPv4 before IPv6, numeric); not aggregated, so evidence stays per entry. */
  readonly entries: readonly ObservedEntry[];
  readonly warnings: readonly Problem[];
  readonly errors: readonly Problem[];
  /** Source facts worth keeping between runs (e.g. the service-tags file changeNumber for the stale rule). */
  readonly facts?: Readonly<Record<string, string | number>>;
}

/** What a source may use: settings, secrets by app-setting name, and what the previous run recorded. */
export interface SourceContext {
  readonly config: Pick<Config, 'dns' | 'http'>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Facts of this target's previous observation, if any. */
  readonly previousFacts?: Readonly<Record<string, string | number>>;
  readonly now: () => Date;
  readonly signal?: AbortSignal;
  /** Replaces DefaultAzureCredential for the ARM service-tags API (tests). */
  readonly armCredential?: import('@azure/core-auth').TokenCredential;
}

export type Source<T extends Target> = (target: T, context: SourceContext) => Promise<Observation>;
