import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../shared/config.js';
import { numberedPath, numberedPaths } from '../../shared/capacity/split-path.js';

function config(file: Record<string, unknown>) {
  return {
    targets: [
      { id: 'tags', type: 'service-tags', url: 'https://example.test/ServiceTags_Public.json', tags: ['MicrosoftCloudAppSecurity'] },
    ],
    files: [{ targets: ['tags'], ...file }],
  };
}

function problems(input: unknown): readonly string[] {
  try {
    parseConfig(input);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('a file path with {n}', () => {
  it('is accepted with a limit, and the file id is the pattern', () => {
    const parsed = parseConfig(
      config({ path: 'sg/cas-{n}.auto.tfvars.json', format: 'tfvars-json', variable: 'cas', limit: 'aws-security-group' }),
    );
    expect(parsed.files[0]).toMatchObject({ id: 'sg/cas-{n}.auto.tfvars.json', path: 'sg/cas-{n}.auto.tfvars.json' });
  });

  it('needs a limit, may appear once, and never in a template file; each problem names its key path', () => {
    // A limit below the static entries is no error for a split set: they are spread over as many files as needed.
    const many = { ...config({ path: 'sg/s-{n}.json', format: 'json', limit: { maxEntries: 1 } }) };
    many.targets = [{ id: 'tags', type: 'static', entries: ['52.16.0.1', '52.16.0.3'] } as never];
    expect(problems(many)).toEqual([]);
    expect(problems(config({ path: 'sg/cas-{n}.json', format: 'json' }))).toEqual([
      'files[0].limit: a path with "{n}" writes as many numbered files as the limit requires; give the file a "limit"',
    ]);
    expect(problems(config({ path: 'sg/{n}/cas-{n}.json', format: 'json', limit: { maxEntries: 10 } }))).toEqual([
      'files[0].path: "{n}" may appear once; it numbers the files of the set',
    ]);
    expect(problems(config({ path: 'fw/rules-{n}.conf', format: 'template', line: 'allow {cidr};', limit: 'azure-nsg-rule' }))).toEqual([
      'files[0].path: a template file has a single generated block, so it cannot be split over numbered files; remove {n} from the path (or use another format to split)',
    ]);
  });
});

describe('numbered paths', () => {
  it('finds the files of a set by number, ignoring other names and numbers the tool never writes', () => {
    const listing = [
      'sg/cas-2.json',
      'sg/cas-10.json',
      'sg/cas-1.json',
      'sg/cas-01.json',
      'sg/cas-.json',
      'sg/cas-x.json',
      'sg/other.json',
      'sg/cas-3.json.bak',
    ];
    expect(numberedPaths('sg/cas-{n}.json', listing)).toEqual([
      { n: 1, path: 'sg/cas-1.json' },
      { n: 2, path: 'sg/cas-2.json' },
      { n: 10, path: 'sg/cas-10.json' },
    ]);
    expect(numberedPath('sg/cas-{n}.json', 7)).toBe('sg/cas-7.json');
  });
});
