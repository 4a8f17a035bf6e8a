import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsConfig } from '../../shared/config.js';
import { classifyError, createDnsClient, resolverLabel, validateAddresses } from '../../shared/net/dns.js';
import { startDnsPeer, type DnsPeer } from '../peers/dns.js';

let peer: DnsPeer;

beforeAll(async () => {
  peer = await startDnsPeer({
    'both.test': {
      kind: 'answer',
      a: [{ address: '192.0.2.10', ttl: 60 }, '192.0.2.11'],
      aaaa: [{ address: '2001:DB8:0:0::10', ttl: 120 }],
    },
    'v6only.test': { kind: 'answer', aaaa: ['2001:db8::6'] },
    'empty.test': { kind: 'answer' },
    'servfail.test': { kind: 'servfail' },
    'refused.test': { kind: 'refused' },
    'silent.test': { kind: 'silence' },
    'garbage.test': { kind: 'garbage' },
    'alias.test': { kind: 'cname', target: 'both.test' },
  });
});

afterAll(async () => {
  await peer.close();
});

function settings(overrides: Partial<DnsConfig> = {}): DnsConfig {
  return { servers: [peer.server], timeoutMs: 1_000, tries: 1, concurrency: 4, stabilityQueries: 2, ...overrides };
}

describe('DNS client over the wire', () => {
  it('returns canonical addresses with their TTLs and names the configured resolver', async () => {
    const dns = createDnsClient(settings());
    expect(dns.resolver).toBe(peer.server);
    expect(await dns.addresses('both.test', 'A')).toEqual({
      outcome: 'answered',
      records: [
        { cidr: '192.0.2.10/32', ttl: 60 },
        { cidr: '192.0.2.11/32', ttl: 300 },
      ],
    });
    expect(await dns.addresses('both.test', 'AAAA')).toEqual({ outcome: 'answered', records: [{ cidr: '2001:db8::10/128', ttl: 120 }] });
  });

  it('tells NXDOMAIN from "no data"', async () => {
    const dns = createDnsClient(settings());
    expect(await dns.addresses('missing.test', 'A')).toEqual({ outcome: 'nxdomain' });
    expect(await dns.addresses('empty.test', 'A')).toEqual({ outcome: 'nodata' });
    expect(await dns.addresses('v6only.test', 'A')).toEqual({ outcome: 'nodata' });
  });

  it.each([
    ['servfail.test', 'dns-servfail', 'ESERVFAIL'],
    ['refused.test', 'dns-refused', 'EREFUSED'],
    ['silent.test', 'dns-timeout', 'ETIMEOUT'],
    ['garbage.test', 'dns-bad-answer', 'EBADRESP'],
  ])('reports %s as a failure (%s), never as absence', async (name, code, reason) => {
    const dns = createDnsClient(settings());
    const lookup = await dns.addresses(name, 'A');
    expect(lookup).toMatchObject({ outcome: 'failed', code });
    expect(lookup.outcome === 'failed' && lookup.reason).toContain(reason);
  });

  it('reports an unreachable resolver as a failure', async () => {
    const closed = await startDnsPeer();
    const server = closed.server;
    await closed.close();
    const dns = createDnsClient(settings({ servers: [server] }));
    expect(await dns.addresses('both.test', 'A')).toMatchObject({ outcome: 'failed' });
  });

  it('follows one CNAME hop at a time', async () => {
    const dns = createDnsClient(settings());
    expect(await dns.alias('alias.test')).toEqual({ outcome: 'alias', target: 'both.test' });
    expect(await dns.alias('both.test')).toEqual({ outcome: 'nodata' });
    expect(await dns.alias('missing.test')).toEqual({ outcome: 'nxdomain' });
  });

  it('answers "aborted" without querying once the run is cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    const before = peer.queries.length;
    const dns = createDnsClient(settings(), controller.signal);
    expect(await dns.addresses('both.test', 'A')).toMatchObject({ outcome: 'failed', code: 'aborted' });
    expect(peer.queries.length).toBe(before);
  });

  it('never has more queries in flight than the concurrency setting', async () => {
    const slow = await startDnsPeer({}, { delayMs: 50 });
    const names = Array.from({ length: 12 }, (_, i) => `host${i}.test`);
    for (const name of names) slow.set(name, { kind: 'answer', a: ['192.0.2.1'] });
    try {
      const dns = createDnsClient(settings({ servers: [slow.server], concurrency: 3, timeoutMs: 2_000 }));
      const results = await Promise.all(names.flatMap((name) => [dns.addresses(name, 'A'), dns.addresses(name, 'AAAA')]));
      expect(results.filter((r) => r.outcome === 'answered')).toHaveLength(12);
      expect(slow.queries).toHaveLength(24);
      expect(slow.maxInFlight).toBe(3);
    } finally {
      await slow.close();
    }
  });
});

describe('DNS answer validation', () => {
  it('rejects an answer that is not an address of the asked family', () => {
    expect(validateAddresses([{ address: 'not-an-ip', ttl: 1 }], 'A')).toMatchObject({ outcome: 'failed', code: 'dns-bad-answer' });
    expect(validateAddresses([{ address: '2001:db8::1', ttl: 1 }], 'A')).toMatchObject({ outcome: 'failed', code: 'dns-bad-answer' });
    expect(validateAddresses([{ address: '192.0.2.1', ttl: -1 }], 'A')).toMatchObject({ outcome: 'failed', code: 'dns-bad-answer' });
    expect(validateAddresses([], 'AAAA')).toEqual({ outcome: 'nodata' });
  });

  it('treats unknown resolver errors as failures', () => {
    expect(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toEqual({
      outcome: 'failed',
      code: 'dns-error',
      reason: 'ECONNREFUSED',
    });
    expect(classifyError(new Error('boom'))).toEqual({ outcome: 'failed', code: 'dns-error', reason: 'boom' });
  });

  it('labels resolvers as address:port', () => {
    expect(resolverLabel('192.0.2.53')).toBe('192.0.2.53:53');
    expect(resolverLabel('192.0.2.53:5353')).toBe('192.0.2.53:5353');
    expect(resolverLabel('2001:db8::53')).toBe('[2001:db8::53]:53');
    expect(resolverLabel('[2001:db8::53]')).toBe('[2001:db8::53]:53');
    expect(resolverLabel('[2001:db8::53]:5353')).toBe('[2001:db8::53]:5353');
  });
});
