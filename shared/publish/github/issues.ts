import { z } from 'zod';
import { tickedBy, UNKNOWN_APPROVER } from '../dashboard.js';
import { sameLogin, type Ownership } from './ownership.js';
import { fitBody, isGitHubStatus } from './rest.js';
import { issueSchema, loginOf } from './schemas.js';
import type { DashboardIssue, PublisherScope } from './types.js';

/** The dashboard issue: shared/engine/dashboard.ts decides when; each method is one request. */
export class DashboardIssues {
  constructor(
    private readonly scope: PublisherScope,
    private readonly owners: Ownership,
  ) {}

  async approver(issueNumber: number, tick: { targetId: string; fingerprint: string }): Promise<string> {
    try {
      const revisions = await this.scope.api.issueRevisions({ ...this.scope.repo, number: issueNumber });
      const by = tickedBy(revisions, tick);
      // The tool only keeps ticks people made: its own edit as the first that shows one means the history is cut short.
      return by === undefined || sameLogin(by, await this.owners.identity()) ? UNKNOWN_APPROVER : by;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.scope.log('info', `Who ticked ${tick.targetId} on issue #${issueNumber} could not be read (${reason}); recorded as unknown.`);
      return UNKNOWN_APPROVER;
    }
  }

  async getIssue(number: number): Promise<DashboardIssue | undefined> {
    try {
      const issue = await this.scope.api.call(`GET issue #${number}`, issueSchema, (o) =>
        o.request('GET /repos/{owner}/{repo}/issues/{issue_number}', { ...this.scope.repo, issue_number: number }),
      );
      return dashboardIssue(issue);
    } catch (error) {
      if (isGitHubStatus(error, 404) || isGitHubStatus(error, 410)) return undefined;
      throw error;
    }
  }

  async findIssue(marker: string): Promise<DashboardIssue | undefined> {
    const issues = await this.scope.api.call('GET issues', z.array(issueSchema), (o) =>
      o.request('GET /repos/{owner}/{repo}/issues', {
        ...this.scope.repo,
        state: 'all',
        sort: 'updated',
        direction: 'desc',
        per_page: 100,
      }),
    );
    for (const issue of issues.filter((i) => !i.pull_request && (i.body ?? '').includes(marker))) {
      const found = dashboardIssue(issue);
      if (await this.owners.ownsIssue(found)) return found;
      this.owners.noticeForeign('issue', found.number, found.author, "allowlist-drift's dashboard marker");
    }
    return undefined;
  }

  async createIssue(text: { title: string; body: string }): Promise<DashboardIssue> {
    const issue = await this.scope.api.call('POST issue', issueSchema, (o) =>
      o.request('POST /repos/{owner}/{repo}/issues', { ...this.scope.repo, title: text.title, body: fitBody(text.body) }),
    );
    return dashboardIssue(issue);
  }

  async editIssueBody(number: number, body: string): Promise<DashboardIssue | undefined> {
    try {
      const issue = await this.scope.api.call(`PATCH issue #${number}`, issueSchema, (o) =>
        o.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', { ...this.scope.repo, issue_number: number, body: fitBody(body) }),
      );
      return dashboardIssue(issue);
    } catch (error) {
      if (isGitHubStatus(error, 404) || isGitHubStatus(error, 410)) return undefined;
      throw error;
    }
  }
}

function dashboardIssue(issue: z.infer<typeof issueSchema>): DashboardIssue {
  return { number: issue.number, state: issue.state, body: issue.body ?? '', author: loginOf(issue.user) };
}
