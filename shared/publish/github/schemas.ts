import { z } from 'zod';

// GitHub's answers, validated once where they enter: only the fields the tool reads.

const sha = z.string().regex(/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/, 'a commit/tree sha');

export const pullSchema = z.object({
  number: z.number().int().positive(),
  html_url: z.string(),
  state: z.enum(['open', 'closed']),
  title: z.string(),
  body: z.string().nullable(),
  merged: z.boolean().optional(),
  merged_at: z.string().nullable(),
  user: z.object({ login: z.string() }).nullable(),
  head: z.object({ ref: z.string(), sha, repo: z.object({ full_name: z.string() }).nullable() }),
});
export type Pull = z.infer<typeof pullSchema>;

export const branchSchema = z.object({ commit: z.object({ sha, commit: z.object({ tree: z.object({ sha }) }) }) });
export const treeSchema = z.object({ sha });
/** "Get a tree" with `recursive`: every path below it, unless GitHub cut the list (`truncated`). */
export const treeListingSchema = z.object({ sha, truncated: z.boolean(), tree: z.array(z.object({ path: z.string(), type: z.string() })) });
export const gitCommitSchema = z.object({ sha, message: z.string(), tree: z.object({ sha }), parents: z.array(z.object({ sha })) });
export type GitCommit = z.infer<typeof gitCommitSchema>;
export const refSchema = z.object({ object: z.object({ sha }) });
export const issueSchema = z.object({
  number: z.number().int().positive(),
  state: z.enum(['open', 'closed']),
  body: z.string().nullable().optional(),
  user: z.object({ login: z.string() }).nullable(),
  pull_request: z.object({}).passthrough().optional(),
});

/** GitHub shows a deleted account as "ghost"; its items are nobody's, so never the tool's. */
export function loginOf(user: { login: string } | null | undefined): string {
  return user?.login ?? 'ghost';
}

export const commentSchema = z.object({
  id: z.number(),
  body: z.string().nullable().optional(),
  user: z.object({ login: z.string() }).nullable().optional(),
});
/** Only the kind of each timeline event is read; committed and some other events carry none. */
export const timelineEventSchema = z.object({ event: z.string().optional() });
export const contentSchema = z.object({
  type: z.literal('file', 'a file (not a directory or link)'),
  encoding: z.string(),
  content: z.string(),
  sha,
});
export const blobSchema = z.object({ content: z.string(), encoding: z.literal('base64') });

export const userSchema = z.object({ login: z.string() });
/** Only these fields of the exchange's answer are read: the token itself never leaves Octokit's auth hook. */
export const installationAuthSchema = z.object({ installationId: z.number(), permissions: z.record(z.string(), z.string()) });
export const repositorySchema = z.object({
  full_name: z.string(),
  private: z.boolean(),
  archived: z.boolean(),
  permissions: z.object({ push: z.boolean() }).optional(),
});

export const appSchema = z.object({ slug: z.string().min(1) });
export const permissionSchema = z.object({ permission: z.string() });
/** `diff` is the body as that edit left it; GitHub lists the edits newest first. */
export const editsSchema = z.object({
  repository: z
    .object({
      issue: z
        .object({
          userContentEdits: z
            .object({
              nodes: z
                .array(
                  z
                    .object({
                      editedAt: z.string().nullable(),
                      diff: z.string().nullable(),
                      editor: z.object({ login: z.string() }).nullable(),
                    })
                    .nullable(),
                )
                .nullable(),
            })
            .nullable(),
        })
        .nullable(),
    })
    .nullable(),
});
