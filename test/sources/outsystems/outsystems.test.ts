import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type ConfigInput, type DnsConfig, type OutSystemsTarget } from '../../../shared/config.js';
import { isLoadBalancerName, observeOutSystems } from '../../../shared/sources/outsystems/index.js';
import type { SourceContext } from '../../../shared/sources/source.js';
import { startDnsPeer, type DnsPeer } from '../../peers/dns.js';
import { startHttpPeer, type HttpPeer } from '../../peers/http.js';

const NOW = new Date('2025-03-01T06:00:00.000Z');
const TOKEN = 'lifetime-token-7d2e';

let dns: DnsPeer;
let lifetime: HttpPeer;

beforeAll(async () => {
  dns = await startDnsPeer({
    'fe1.acme.test': { kind: 'answer', a: [{ address: '198.51.100.10', ttl: 3600 }], aaaa: [{ address: '2001:db8:a::10', ttl: 1800 }] },
    'fe2.acme.test': { kind: 'answer', a: [{ address: '198.51.100.20', ttl: 3600 }] },
    'fe-v6.acme.test': { kind: 'answer', aaaa: ['2001:db8:a::30'] },
    'fe-shared.acme.test': { kind: 'answer', a: ['198.51.100.10'] },
    'fe-alias.acme.test': { kind: 'cname', target: 'ec2-198-51-100-40.compute.test' },
    'ec2-198-51-100-40.compute.test': { kind: 'answer', a: ['198.51.100.40'] },
    'fe-lb.acme.test': { kind: 'cname', target: 'edge.acme.test' },
    'edge.acme.test': { kind: 'cname', target: 'acme-prod-123456.eu-west-1.elb.amazonaws.com' },
    'acme-prod-123456.eu-west-1.elb.amazonaws.com': { kind: 'answer', a: ['203.0.113.1', '203.0.113.2'] },
    'fe-gone.acme.test': { kind: 'nxdomain' },
    'fe-empty.acme.test': { kind: 'answer' },
    'fe-servfail.acme.test': { kind: 'servfail' },
    'fe-refused.acme.test': { kind: 'refused' },
    'fe-silent.acme.test': { kind: 'silence' },
    'fe-garbage.acme.test': { kind: 'garbage' },
    'fe-rotating.acme.test': { kind: 'rotate', a: [['203.0.113.10'], ['203.0.113.11']] },
    'acme.acme.test': { kind: 'answer', a: ['203.0.113.50'] },
  });
  lifetime = await startHttpPeer((request, response) => {
    const ok = request.headers.authorization === `Bearer ${TOKEN}`;
    response.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    response.end(
      ok
        ? JSON.stringify({ Key: 'env-1', Name: 'Production', NumberOfFrontEnds: 3, IsCloudEnvironment: true })
        : '{"Errors":["Invalid token"]}',
    );
  });
});

afterAll(async () => {
  await Promise.all([dns.close(), lifetime.close()]);
});

function target(input: Partial<Extract<ConfigInput['targets'][number], { type: 'outsystems' }>>): OutSystemsTarget {
  return parseConfig({ targets: [{ id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test'], ...input }] })
    .targets[0] as OutSystemsTarget;
}

function context(dnsOverrides: Partial<DnsConfig> = {}, env: Record<string, string> = {}): SourceContext {
  return {
    config: {
      dns: { servers: [dns.server], timeoutMs: 1_000, tries: 1, concurrency: 8, stabilityQueries: 2, ...dnsOverrides },
      http: { timeoutMs: 5_000, maxBytes: 1_048_576 },
    },
    env,
    now: () => NOW,
  };
}

const codes = (problems: readonly { code: string }[]) => problems.map((p) => p.code);

describe('observeOutSystems over the wire', () => {
  it('observes A and AAAA addresses with TTL evidence from the configured resolver', async () => {
    const observation = await observeOutSystems(target({ frontEnds: ['fe1.acme.test', 'fe2.acme.test'] }), context());
    expect(observation).toMatchObject({
      targetId: 'acme-prod',
      type: 'outsystems',
      observedAt: NOW.toISOString(),
      status: 'ok',
      warnings: [],
      errors: [],
    });
    expect(observation.entries).toEqual([
      {
        cidr: '198.51.100.10/32',
        evidence: [{ kind: 'dns', hostname: 'fe1.acme.test', recordType: 'A', ttl: 3600, resolver: dns.server, at: NOW.toISOString() }],
      },
      {
        cidr: '198.51.100.20/32',
        evidence: [{ kind: 'dns', hostname: 'fe2.acme.test', recordType: 'A', ttl: 3600, resolver: dns.server, at: NOW.toISOString() }],
      },
      {
        cidr: '2001:db8:a::10/128',
        evidence: [{ kind: 'dns', hostname: 'fe1.acme.test', recordType: 'AAAA', ttl: 1800, resolver: dns.server, at: NOW.toISOString() }],
      },
    ]);
  });

  it('queries every host stabilityQueries times for A and AAAA', async () => {
    const before = dns.queries.length;
    await observeOutSystems(target({ frontEnds: ['fe2.acme.test'] }), context({ stabilityQueries: 3 }));
    const seen = dns.queries.slice(before).filter((q) => q.name === 'fe2.acme.test');
    expect(seen.filter((q) => q.type === 'A')).toHaveLength(3);
    expect(seen.filter((q) => q.type === 'AAAA')).toHaveLength(3);
  });

  it('accepts an AAAA-only front-end', async () => {
    const observation = await observeOutSystems(target({ frontEnds: ['fe-v6.acme.test'] }), context());
    expect(observation.status).toBe('ok');
    expect(observation.entries.map((e) => e.cidr)).toEqual(['2001:db8:a::30/128']);
  });

  it('merges the evidence of two front-ends that share an address', async () => {
    const observation = await observeOutSystems(target({ frontEnds: ['fe1.acme.test', 'fe-shared.acme.test'] }), context());
    const shared = observation.entries.find((e) => e.cidr === '198.51.100.10/32');
    expect(shared?.evidence.map((e) => (e.kind === 'dns' ? e.hostname : e.kind))).toEqual(['fe1.acme.test', 'fe-shared.acme.test']);
    expect(observation.entries).toHaveLength(2);
  });

  it('adds VPN ranges as configured entries, sorted with the DNS ones', async () => {
    const observation = await observeOutSystems(
      target({ frontEnds: ['fe2.acme.test'], vpnRanges: ['10.20.0.0/16', '10.20.1.1/16'] }),
      context(),
    );
    expect(observation.entries).toEqual([
      { cidr: '10.20.0.0/16', evidence: [{ kind: 'vpn' }] },
      { cidr: '198.51.100.20/32', evidence: [expect.objectContaining({ hostname: 'fe2.acme.test' })] },
    ]);
  });

  it('accepts a CNAME chain that ends at an ordinary host', async () => {
    const observation = await observeOutSystems(target({ frontEnds: ['fe-alias.acme.test'] }), context());
    expect(observation.status).toBe('ok');
    expect(observation.entries).toEqual([
      { cidr: '198.51.100.40/32', evidence: [expect.objectContaining({ hostname: 'fe-alias.acme.test', recordType: 'A' })] },
    ]);
  });

  it('refuses a front-end whose CNAME chain reaches a load balancer, explaining why', async () => {
    const observation = await observeOutSystems(target({ frontEnds: ['fe1.acme.test', 'fe-lb.acme.test'] }), context());
    expect(observation.status).toBe('partial');
    expect(codes(observation.errors)).toEqual(['load-balancer']);
    const [error] = observation.errors;
    expect(error?.message).toContain('fe-lb.acme.test');
    expect(error?.message).toContain('acme-prod-123456.eu-west-1.elb.amazonaws.com');
    expect(error?.message).toContain('not static');
    expect(error?.message).toContain('Service Center > Monitoring > Environment Health');
    expect(observation.entries.map((e) => e.cidr)).not.toContain('203.0.113.1/32');
  });

  it('refuses the environment address even if it reaches the source unchecked', async () => {
    const unchecked = { ...target({ frontEnds: ['fe1.acme.test', 'acme.acme.test'] }), environmentHost: 'acme.acme.test' };
    const observation = await observeOutSystems(unchecked, context());
    expect(observation.status).toBe('partial');
    expect(codes(observation.errors)).toEqual(['load-balancer']);
    expect(observation.errors[0]?.message).toContain('environment address');
    expect(observation.entries.map((e) => e.cidr)).not.toContain('203.0.113.50/32');
  });

  it('refuses a front-end whose answers change between queries', async () => {
    const observation = await observeOutSystems(target({ frontEnds: ['fe1.acme.test', 'fe-rotating.acme.test'] }), context());
    expect(observation.status).toBe('partial');
    expect(codes(observation.errors)).toEqual(['unstable-answers']);
    expect(observation.errors[0]?.message).toContain('203.0.113.10/32');
    expect(observation.errors[0]?.message).toContain('203.0.113.11/32');
    expect(observation.entries.map((e) => e.cidr).filter((c) => c.startsWith('203.0.113.'))).toEqual([]);
  });

  it('reports NXDOMAIN and no data as warnings and keeps the status ok', async () => {
    const observation = await observeOutSystems(
      target({ frontEnds: ['fe2.acme.test', 'fe-gone.acme.test', 'fe-empty.acme.test'] }),
      context(),
    );
    expect(observation.status).toBe('ok');
    expect(codes(observation.warnings)).toEqual(['dns-nxdomain', 'dns-nodata']);
    expect(observation.warnings[0]?.message).toContain('fe-gone.acme.test');
    expect(observation.warnings[0]?.message).toContain(dns.server);
    expect(observation.errors).toEqual([]);
    expect(observation.entries.map((e) => e.cidr)).toEqual(['198.51.100.20/32']);
  });

  it('makes a mixed target partial: the answered host is observed, every failed host is an error naming it and the resolver', async () => {
    const failing = ['fe-servfail.acme.test', 'fe-refused.acme.test', 'fe-silent.acme.test'];
    const observation = await observeOutSystems(target({ frontEnds: ['fe2.acme.test', ...failing] }), context());
    expect(observation.status).toBe('partial');
    expect(observation.entries.map((e) => e.cidr)).toEqual(['198.51.100.20/32']);
    expect(codes(observation.errors)).toEqual(['dns-servfail', 'dns-refused', 'dns-timeout']);
    observation.errors.forEach((error, index) => {
      expect(error.message).toContain(failing[index]);
      expect(error.message).toContain(dns.server);
    });
  });

  // c-ares drops a malformed reply's connection and fails every query in flight on it, so this host is observed alone.
  it('reports a malformed answer as an error, not as absence', async () => {
    const observation = await observeOutSystems(target({ frontEnds: ['fe-garbage.acme.test'] }), context());
    expect(observation.status).toBe('error');
    expect(codes(observation.errors)).toEqual(['dns-bad-answer']);
    expect(observation.errors[0]?.message).toContain('fe-garbage.acme.test');
    expect(observation.entries).toEqual([]);
  });

  it('is an error with no entries when no front-end answers', async () => {
    const observation = await observeOutSystems(
      target({ frontEnds: ['fe-servfail.acme.test', 'fe-silent.acme.test', 'fe-lb.acme.test'], vpnRanges: ['10.20.0.0/16'] }),
      context(),
    );
    expect(observation.status).toBe('error');
    expect(observation.entries).toEqual([]);
    expect(codes(observation.errors)).toEqual(['dns-servfail', 'dns-timeout', 'load-balancer']);
  });

  it('is an error, not an empty success, when every front-end is absent', async () => {
    const observation = await observeOutSystems(target({ frontEnds: ['fe-gone.acme.test', 'fe-empty.acme.test'] }), context());
    expect(observation.status).toBe('error');
    expect(observation.entries).toEqual([]);
    expect(codes(observation.errors)).toEqual(['dns-no-addresses']);
    expect(codes(observation.warnings)).toEqual(['dns-nxdomain', 'dns-nodata']);
  });

  it('keeps the number of queries in flight at the resolver within dns.concurrency', async () => {
    const slow = await startDnsPeer({}, { delayMs: 30 });
    const hosts = Array.from({ length: 10 }, (_, i) => `fe${i}.slow.test`);
    hosts.forEach((host, i) => slow.set(host, { kind: 'answer', a: [`198.51.100.${100 + i}`] }));
    try {
      const observation = await observeOutSystems(
        target({ frontEnds: hosts }),
        context({ servers: [slow.server], concurrency: 4, timeoutMs: 2_000 }),
      );
      expect(observation.status).toBe('ok');
      expect(observation.entries).toHaveLength(10);
      expect(slow.queries).toHaveLength(10 * (1 + 2 * 2));
      expect(slow.maxInFlight).toBe(4);
    } finally {
      await slow.close();
    }
  });

  it('adds the LifeTime new-front-end warning without changing the entries, and never shows the token', async () => {
    const withLifeTime = target({
      frontEnds: ['fe1.acme.test', 'fe2.acme.test'],
      lifetime: { url: lifetime.url, environmentKey: 'env-1' },
    });
    const observation = await observeOutSystems(withLifeTime, context({}, { LIFETIME_TOKEN: TOKEN }));
    expect(observation.status).toBe('ok');
    expect(codes(observation.warnings)).toEqual(['new-front-end']);
    expect(observation.facts).toEqual({ lifetimeFrontEnds: 3 });
    expect(observation.entries).toHaveLength(3);
    expect(JSON.stringify(observation)).not.toContain(TOKEN);

    const rejected = await observeOutSystems(withLifeTime, context({}, { LIFETIME_TOKEN: 'not-the-token' }));
    expect(rejected.status).toBe('ok');
    expect(codes(rejected.warnings)).toEqual(['lifetime-unavailable']);
    expect(JSON.stringify(rejected)).not.toContain('not-the-token');
  });
});

describe('load balancer names', () => {
  it.each([
    'my-lb-1234567890.us-east-1.elb.amazonaws.com',
    'dualstack.my-lb-1234567890.us-east-1.elb.amazonaws.com',
    'my-nlb-0123456789abcdef.elb.eu-west-1.amazonaws.com',
    'd111111abcdef8.cloudfront.net',
    'a1234567890abcdef.awsglobalaccelerator.com',
    'acme-fd.azurefd.net',
    'acme.trafficmanager.net',
    'ACME.AZUREEDGE.NET.',
  ])('%s is a load balancer', (name) => {
    expect(isLoadBalancerName(name)).toBe(true);
  });

  it.each([
    'ec2-198-51-100-1.eu-west-1.compute.amazonaws.com',
    'fe1.outsystemsenterprise.com',
    'notelb.amazonaws.com',
    'acme.cloudapp.azure.com',
  ])('%s is not', (name) => {
    expect(isLoadBalancerName(name)).toBe(false);
  });
});
