import { FILES, TAGS_PATH, startHarness, weeklyTag, type Harness } from './harness.js';

/** The scenario of the held-change tests: one service tag, written to one plain file. */
export const TAG = 'AzureFrontDoor.MicrosoftSecurity';

/** The lines of a plain rule file, without comments. */
export const lines = (text: string | null) => (text ?? '').split('\n').filter((line) => line !== '' && !line.startsWith('#'));

/** The weekly service-tags file cut down to one tag, whose entry is kept verbatim, plus `extra` prefixes. */
export function serviceTags(extra: string[] = []) {
  return weeklyTag(TAG, (published) => [...published, ...extra]);
}

/** Only the service-tags target, with an approved baseline and no open PR; the dashboard on when asked. */
export async function tagsWithBaseline(options: { dashboard?: boolean } = {}): Promise<Harness> {
  const harness = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      ...(options.dashboard ? { github: { ...defaults.github!, dashboard: true } } : {}),
      targets: [{ id: 'mcas-tags', type: 'service-tags', url: `${http.url}${TAGS_PATH}`, tags: [TAG] }],
      files: [{ path: FILES.tags, format: 'plain', targets: ['mcas-tags'] }],
    }),
  });
  harness.serveServiceTags(serviceTags());
  await harness.run();
  harness.github.mergePullRequest(1);
  await harness.run();
  return harness;
}
