import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FileSpec } from '../../shared/config.js';
import { parseCidr, type Cidr } from '../../shared/ipset.js';
import { renderFile } from '../../shared/render/index.js';

const cidrs = (...texts: string[]): Cidr[] => texts.map(parseCidr);

/** Deliberately out of order, with both families, a host route and a covering prefix before its neighbour. */
const MIXED = cidrs(
  '2001:db8:10::/48',
  '198.51.100.7/32',
  '10.42.0.0/16',
  '2001:db8::1/128',
  '9.0.0.0/8',
  '198.51.100.0/24',
  '203.0.113.128/25',
);

const plain: FileSpec = { id: 'edl-outsystems', path: 'edl/outsystems.txt', format: 'plain', targets: ['os'] };
const json: FileSpec = { id: 'allowlists/cas.json', path: 'allowlists/cas.json', format: 'json', targets: ['cas'] };
const tfvars: FileSpec = {
  id: 'tf',
  path: 'terraform/allow.auto.tfvars.json',
  format: 'tfvars-json',
  variable: 'partner_cidrs',
  targets: ['p'],
};
const template: FileSpec = {
  id: 'fw',
  path: 'fw.rules',
  format: 'template',
  line: 'allow {cidr};',
  maxAddressesPerRange: 256,
  commentPrefix: '#',
  targets: ['p'],
};
const TEMPLATE_TEXT = '# BEGIN allowlist-drift:fw\n# END allowlist-drift:fw\n';

const render = (file: FileSpec, input: readonly Cidr[], existing: string | null = null) =>
  renderFile(file, input, { configName: 'example', existing });

describe('plain (EDL / threat feed)', () => {
  it('writes a header and one CIDR per line, IPv4 first, in numeric order', () => {
    expect(render(plain, MIXED)).toBe(
      [
        '# Kept up to date by allowlist-drift (config "example", file "edl-outsystems"). Lines added by hand are kept.',
        '# To remove an address for good, remove it from its source or the allowlist-drift config: an address a target',
        '# still lists is written back with the next change.',
        '9.0.0.0/8',
        '10.42.0.0/16',
        '198.51.100.0/24',
        '198.51.100.7/32',
        '203.0.113.128/25',
        '2001:db8::1/128',
        '2001:db8:10::/48',
        '',
      ].join('\n'),
    );
  });

  it('writes only the header for an empty set', () => {
    expect(render(plain, [])).toBe(
      '# Kept up to date by allowlist-drift (config "example", file "edl-outsystems"). Lines added by hand are kept.\n' +
        '# To remove an address for good, remove it from its source or the allowlist-drift config: an address a target\n' +
        '# still lists is written back with the next change.\n',
    );
  });

  it('uses LF only and leaves no line a firewall could mistake for an entry', () => {
    const text = render(plain, MIXED);
    expect(text).not.toContain('\r');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    const entries = lines.filter((line) => !line.startsWith('#'));
    expect(entries.map(parseCidr)).toEqual(entries);
    expect(entries).toHaveLength(MIXED.length);
  });
});

describe('json', () => {
  it('writes a JSON array with two-space indentation and a trailing newline', () => {
    expect(render(json, cidrs('2001:db8::/32', '192.0.2.0/24', '10.0.0.1'))).toBe(
      '[\n  "10.0.0.1/32",\n  "192.0.2.0/24",\n  "2001:db8::/32"\n]\n',
    );
  });

  it('writes an empty array for an empty set', () => {
    expect(render(json, [])).toBe('[]\n');
  });
});

describe('tfvars-json', () => {
  it('writes one list per IP family, named after the variable', () => {
    expect(render(tfvars, MIXED)).toBe(
      [
        '{',
        '  "partner_cidrs_ipv4": [',
        '    "9.0.0.0/8",',
        '    "10.42.0.0/16",',
        '    "198.51.100.0/24",',
        '    "198.51.100.7/32",',
        '    "203.0.113.128/25"',
        '  ],',
        '  "partner_cidrs_ipv6": [',
        '    "2001:db8::1/128",',
        '    "2001:db8:10::/48"',
        '  ]',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('keeps both variables when a family or everything is empty, so Terraform always finds them', () => {
    expect(JSON.parse(render(tfvars, cidrs('2001:db8::/32')))).toEqual({ partner_cidrs_ipv4: [], partner_cidrs_ipv6: ['2001:db8::/32'] });
    expect(render(tfvars, [])).toBe('{\n  "partner_cidrs_ipv4": [],\n  "partner_cidrs_ipv6": []\n}\n');
  });
});

describe('determinism', () => {
  const files = [plain, json, tfvars, template];

  it('renders the same bytes twice, and drops repeated entries', () => {
    for (const file of files) {
      const once = render(file, MIXED, TEMPLATE_TEXT);
      expect(render(file, MIXED, TEMPLATE_TEXT)).toBe(once);
      expect(render(file, [...MIXED, ...MIXED.slice(0, 3)], TEMPLATE_TEXT)).toBe(once);
    }
  });

  it('renders the same bytes whatever the input order', () => {
    const expected = files.map((file) => render(file, MIXED, TEMPLATE_TEXT));
    fc.assert(
      fc.property(fc.shuffledSubarray(MIXED, { minLength: MIXED.length, maxLength: MIXED.length }), (shuffled) => {
        files.forEach((file, index) => expect(render(file, shuffled, TEMPLATE_TEXT)).toBe(expected[index]));
      }),
    );
  });

  it('ignores the existing content for formats that are written whole', () => {
    for (const file of [plain, json, tfvars]) {
      expect(render(file, MIXED, 'old content\r\n')).toBe(render(file, MIXED, null));
    }
  });
});
