import { describe, expect, it } from 'vitest';
import type { FileSpec } from '../../shared/config.js';
import { parseCidr, type Cidr } from '../../shared/ipset.js';
import { AllowlistError } from '../../shared/problem.js';
import { renderFile } from '../../shared/render/index.js';

type TemplateFile = Extract<FileSpec, { format: 'template' }>;

const cidrs = (...texts: string[]): Cidr[] => texts.map(parseCidr);
const ADDRESSES = cidrs('2001:db8:7::/48', '203.0.113.9', '198.51.100.0/24');

function templateFile(overrides: Partial<TemplateFile> = {}): TemplateFile {
  return {
    id: 'partners',
    path: 'nginx/partners.conf',
    format: 'template',
    line: 'allow {cidr};',
    maxAddressesPerRange: 256,
    commentPrefix: '#',
    targets: ['p'],
    ...overrides,
  };
}

const render = (file: TemplateFile, existing: string | null, input: readonly Cidr[] = ADDRESSES) =>
  renderFile(file, input, { configName: 'example', existing });

function failure(file: TemplateFile, existing: string | null): AllowlistError {
  try {
    render(file, existing);
  } catch (error) {
    expect(error).toBeInstanceOf(AllowlistError);
    return error as AllowlistError;
  }
  throw new Error('expected the template to be rejected');
}

const NGINX = [
  'server {',
  '    listen 443 ssl;',
  '    location /api/ {',
  '        # BEGIN allowlist-drift:partners (generated: edit the allowlist-drift config, not these lines)',
  '        allow 192.0.2.1/32;',
  '        allow 192.0.2.2/32;',
  '        # END allowlist-drift:partners',
  '        deny all;',
  '    }',
  '}',
  '',
].join('\n');

describe('template', () => {
  it('replaces only the lines between the markers, with the BEGIN line indentation (nginx)', () => {
    expect(render(templateFile(), NGINX)).toBe(
      [
        'server {',
        '    listen 443 ssl;',
        '    location /api/ {',
        '        # BEGIN allowlist-drift:partners (generated: edit the allowlist-drift config, not these lines)',
        '        allow 198.51.100.0/24;',
        '        allow 203.0.113.9/32;',
        '        allow 2001:db8:7::/48;',
        '        # END allowlist-drift:partners',
        '        deny all;',
        '    }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('fills {ip} and {prefix} as well as {cidr}, every time they occur (iptables)', () => {
    const file = templateFile({
      id: 'stunnel',
      path: 'iptables.rules',
      line: '-A INPUT -p tcp -s {ip}/{prefix} --dport 11344 -j ACCEPT -m comment --comment "{cidr}"',
    });
    const existing = '*filter\n:INPUT DROP [0:0]\n# BEGIN allowlist-drift:stunnel\n# END allowlist-drift:stunnel\nCOMMIT\n';
    expect(render(file, existing, cidrs('203.0.113.9', '198.51.100.0/24'))).toBe(
      '*filter\n:INPUT DROP [0:0]\n# BEGIN allowlist-drift:stunnel\n' +
        '-A INPUT -p tcp -s 198.51.100.0/24 --dport 11344 -j ACCEPT -m comment --comment "198.51.100.0/24"\n' +
        '-A INPUT -p tcp -s 203.0.113.9/32 --dport 11344 -j ACCEPT -m comment --comment "203.0.113.9/32"\n' +
        '# END allowlist-drift:stunnel\nCOMMIT\n',
    );
  });

  it('leaves every byte outside the block untouched and gives the same text when run again', () => {
    const before =
      'keep  \t trailing spaces   \n\n# BEGIN allowlist-drift:partners\nold\n# END allowlist-drift:partners  \nno newline at end';
    const after = render(templateFile(), before);
    expect(after.startsWith('keep  \t trailing spaces   \n\n# BEGIN allowlist-drift:partners\n')).toBe(true);
    expect(after.endsWith('\n# END allowlist-drift:partners  \nno newline at end')).toBe(true);
    expect(after).not.toContain('old');
    expect(render(templateFile(), after)).toBe(after);
  });

  it('keeps a CRLF file CRLF, generated lines included', () => {
    const before =
      'iptables -F\r\n  # BEGIN allowlist-drift:partners\r\n  stale\r\n  # END allowlist-drift:partners\r\niptables -P INPUT DROP\r\n';
    const after = render(
      templateFile({ line: 'iptables -I INPUT -p tcp -s {cidr} --dport 11344 -j ACCEPT' }),
      before,
      cidrs('198.51.100.0/24', '203.0.113.9'),
    );
    expect(after).toBe(
      'iptables -F\r\n  # BEGIN allowlist-drift:partners\r\n' +
        '  iptables -I INPUT -p tcp -s 198.51.100.0/24 --dport 11344 -j ACCEPT\r\n' +
        '  iptables -I INPUT -p tcp -s 203.0.113.9/32 --dport 11344 -j ACCEPT\r\n' +
        '  # END allowlist-drift:partners\r\niptables -P INPUT DROP\r\n',
    );
    expect(after.replaceAll('\r\n', '')).not.toContain('\n');
  });

  it('empties the block for an empty set, keeping both markers', () => {
    expect(render(templateFile(), NGINX, [])).toBe(NGINX.replace('        allow 192.0.2.1/32;\n        allow 192.0.2.2/32;\n', ''));
  });

  it('honours another comment prefix and text after the marker', () => {
    const file = templateFile({ commentPrefix: '<!--', line: '<ip>{cidr}</ip>' });
    const before = '<ips>\n  <!-- BEGIN allowlist-drift:partners -->\n  <!-- END allowlist-drift:partners -->\n</ips>\n';
    expect(render(file, before, cidrs('203.0.113.9'))).toBe(
      '<ips>\n  <!-- BEGIN allowlist-drift:partners -->\n  <ip>203.0.113.9/32</ip>\n  <!-- END allowlist-drift:partners -->\n</ips>\n',
    );
  });

  it('finds markers after a byte-order mark', () => {
    const before = '\uFEFF# BEGIN allowlist-drift:partners\n# END allowlist-drift:partners\n';
    expect(render(templateFile(), before, cidrs('203.0.113.9'))).toBe(
      '\uFEFF# BEGIN allowlist-drift:partners\nallow 203.0.113.9/32;\n# END allowlist-drift:partners\n',
    );
  });

  it('only uses the markers of its own file id, not those of a file whose id it prefixes', () => {
    const before =
      '# BEGIN allowlist-drift:partners-v6\nv6 stays\n# END allowlist-drift:partners-v6\n# BEGIN allowlist-drift:partners\n# END allowlist-drift:partners\n';
    expect(render(templateFile(), before, cidrs('203.0.113.9'))).toBe(
      '# BEGIN allowlist-drift:partners-v6\nv6 stays\n# END allowlist-drift:partners-v6\n# BEGIN allowlist-drift:partners\nallow 203.0.113.9/32;\n# END allowlist-drift:partners\n',
    );
  });
});

describe('template errors tell the user which marker lines to add or fix', () => {
  it('template-missing: the file does not exist', () => {
    const error = failure(templateFile(), null);
    expect(error.code).toBe('template-missing');
    expect(error.message).toBe(
      'nginx/partners.conf does not exist in the repository; a template file is edited in place, so create it and ' +
        'add the two lines "# BEGIN allowlist-drift:partners" and "# END allowlist-drift:partners" where the generated lines belong',
    );
  });

  it('template-markers: no markers at all (even if another file has some)', () => {
    for (const existing of ['', 'allow 10.0.0.0/8;\n', '# BEGIN allowlist-drift:other\n# END allowlist-drift:other\n']) {
      const error = failure(templateFile(), existing);
      expect(error.code).toBe('template-markers');
      expect(error.message).toBe(
        'nginx/partners.conf: no allowlist-drift markers for file "partners"; ' +
          'add the two lines "# BEGIN allowlist-drift:partners" and "# END allowlist-drift:partners" where the generated lines belong',
      );
    }
  });

  it('template-markers: BEGIN without END, END without BEGIN, END before BEGIN', () => {
    expect(failure(templateFile(), 'a\n# BEGIN allowlist-drift:partners\nb\n')).toMatchObject({
      code: 'template-markers',
      message:
        'nginx/partners.conf: "# BEGIN allowlist-drift:partners" is on line 2 but no line "# END allowlist-drift:partners" follows it; add it below the last line to replace',
    });
    expect(failure(templateFile(), 'a\nb\n# END allowlist-drift:partners\n')).toMatchObject({
      code: 'template-markers',
      message:
        'nginx/partners.conf: "# END allowlist-drift:partners" is on line 3 but no line "# BEGIN allowlist-drift:partners" comes before it; add it above the first line to replace',
    });
    expect(failure(templateFile(), '# END allowlist-drift:partners\nx\n# BEGIN allowlist-drift:partners\n')).toMatchObject({
      code: 'template-markers',
      message:
        'nginx/partners.conf: "# END allowlist-drift:partners" (line 1) comes before "# BEGIN allowlist-drift:partners" (line 3); put the BEGIN line first',
    });
  });

  it('template-markers: a marker repeated', () => {
    const twoBlocks =
      '# BEGIN allowlist-drift:partners\n# END allowlist-drift:partners\n# BEGIN allowlist-drift:partners\n# END allowlist-drift:partners\n';
    expect(failure(templateFile(), twoBlocks)).toMatchObject({
      code: 'template-markers',
      message: 'nginx/partners.conf: "# BEGIN allowlist-drift:partners" is on lines 1 and 3; keep exactly one',
    });
    const threeEnds =
      '# BEGIN allowlist-drift:partners\n# END allowlist-drift:partners\n# END allowlist-drift:partners\n# END allowlist-drift:partners\n';
    expect(failure(templateFile(), threeEnds)).toMatchObject({
      code: 'template-markers',
      message: 'nginx/partners.conf: "# END allowlist-drift:partners" is on lines 2, 3 and 4; keep exactly one',
    });
  });

  it('template-markers: a marker written with another comment prefix', () => {
    expect(failure(templateFile(), '// BEGIN allowlist-drift:partners\n# END allowlist-drift:partners\n')).toMatchObject({
      code: 'template-markers',
      message:
        'nginx/partners.conf: line 1 names "BEGIN allowlist-drift:partners" but does not start with the comment prefix "#"; write it as "# BEGIN allowlist-drift:partners"',
    });
  });
});
