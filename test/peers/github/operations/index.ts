import { appsOperations } from './apps.js';
import { collaboratorsOperations } from './collaborators.js';
import { gitOperations } from './git.js';
import { issuesOperations } from './issues.js';
import { metaOperations } from './meta.js';
import type { Operation } from './operation.js';
import { pullsOperations } from './pulls.js';
import { reposOperations } from './repos.js';
import { timelineOperations } from './timeline.js';
import { usersOperations } from './users.js';

export type { Input, Operation } from './operation.js';

/** Every operation the peer implements, by GitHub's operationId, grouped by API area. */
export const OPERATIONS: Record<string, Operation> = {
  ...appsOperations,
  ...reposOperations,
  ...gitOperations,
  ...pullsOperations,
  ...issuesOperations,
  ...timelineOperations,
  ...usersOperations,
  ...collaboratorsOperations,
  ...metaOperations,
};
