import { z } from 'zod';
import { tryParseCidr } from '../../ipset.js';
import { cidr, hostname, strictObject, tokenUrl } from '../../schema-kit.js';
import { defineSource } from '../source.js';

export const OUTSYSTEMS_DOMAIN = 'outsystemsenterprise.com';

/**
 * A short front-end name ("prodfe1") is the Service Center name; OutSystems documents the suffix to add. An address
 * looks like a hostname to DNS and would only ever be reported as missing, so it is refused with what to write.
 */
const frontEnd = z
  .string()
  .refine((name) => tryParseCidr(name) === undefined, {
    abort: true,
    message: `is an IP address; front-ends are hostnames (<name>.${OUTSYSTEMS_DOMAIN}, as Service Center > Monitoring > Environment Health lists them); to allow a fixed address, put it in vpnRanges or a "static" target`,
  })
  .pipe(hostname)
  .transform((name) => (name.includes('.') ? name : `${name}.${OUTSYSTEMS_DOMAIN}`));

/** An address a front-end's DNS record answered with. */
export const dnsEvidence = z.object({
  kind: z.literal('dns'),
  hostname: z.string(),
  recordType: z.enum(['A', 'AAAA']),
  ttl: z.number(),
  /** The resolver that answered, "address:port". */
  resolver: z.string(),
  at: z.string(),
});
export type DnsEvidence = Readonly<z.output<typeof dnsEvidence>>;

/** A VPN range written in the config by a person: trusted, so the special-range guard skips it. */
export const vpnEvidence = z.object({ kind: z.literal('vpn') });
export type VpnEvidence = Readonly<z.output<typeof vpnEvidence>>;

export const outsystems = defineSource({
  fields: {
    frontEnds: z
      .array(frontEnd)
      .min(1, 'list at least one front-end server (Service Center > Monitoring > Environment Health)')
      .meta({ description: `Front-end server hostnames; a name without a dot gets ".${OUTSYSTEMS_DOMAIN}".` }),
    environmentHost: frontEnd.optional().meta({
      description: 'The environment address (<env>.outsystemsenterprise.com): its IPs are not static, so it is refused as a front-end.',
    }),
    vpnRanges: z
      .array(cidr)
      .default([])
      .meta({ description: 'Whole ranges to allow when the environment is reached over a VPN; added as they are.' }),
    lifetime: strictObject({
      url: tokenUrl,
      environmentKey: z
        .string()
        .min(1)
        .regex(/^[A-Za-z0-9-]+$/, 'must be a LifeTime environment key'),
      tokenSetting: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an app setting name')
        .default('LIFETIME_TOKEN')
        .meta({ description: 'Name of the app setting holding the LifeTime token (never the token itself).' }),
    }).optional(),
  },
  problems: environmentHostProblems,
  evidence: [dnsEvidence, vpnEvidence],
  // Front-ends are observed through DNS; VPN ranges are written by people.
  configured: ['vpn'],
  // A front-end's new address: its outgoing calls are refused until the address is allowlisted.
  urgent: ['dns'],
  schedule: 'OUTSYSTEMS_SCHEDULE',
  doctor: { resolve: (target) => target.frontEnds[0] },
  describe: (evidence, inert) =>
    evidence.kind === 'dns'
      ? `DNS ${evidence.recordType} record of ${inert(evidence.hostname)}, TTL ${inert(String(evidence.ttl))} s, ` +
        `from resolver ${inert(evidence.resolver)}`
      : 'configured (VPN range)',
  cite: (evidence, inert) =>
    evidence.kind === 'dns'
      ? {
          source: `DNS ${evidence.recordType} answer from resolver ${inert(evidence.resolver)}`,
          place: inert(evidence.hostname),
          detail: `TTL ${inert(String(evidence.ttl))} s`,
        }
      : { source: 'the config', place: 'VPN ranges' },
});

function environmentHostProblems(target: Readonly<Record<string, unknown>>, at: string): string[] {
  const host = frontEnd.safeParse(target.environmentHost);
  if (!host.success || !Array.isArray(target.frontEnds)) return [];
  return target.frontEnds.flatMap((raw: unknown, index) => {
    const name = frontEnd.safeParse(raw);
    if (!name.success || name.data !== host.data) return [];
    return [
      `${at}.frontEnds[${index}]: "${host.data}" is the environment address: it resolves to load balancers whose IPs are not static; ` +
        'list the front-end servers instead',
    ];
  });
}
