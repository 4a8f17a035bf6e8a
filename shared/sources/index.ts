import type { Target } from '../config.js';
import { toProblem, type Problem } from '../problem.js';
import type { Observation, SourceContext } from './source.js';

/**
 * Observes one target with its source. Never throws: the engine compares every target's
 * observation, and an exception here must become an error for that target alone.
 * Sources are imported on first use so a DNS-only run does not load the markdown parser.
 */
export async function observeTarget(target: Target, context: SourceContext): Promise<Observation> {
  try {
    return await dispatch(target, context);
  } catch (error) {
    return observationError(target, toProblem(error), safeNow(context));
  }
}

async function dispatch(target: Target, context: SourceContext): Promise<Observation> {
  switch (target.type) {
    case 'outsystems': {
      const { observeOutSystems } = await import('./outsystems/index.js');
      return observeOutSystems(target, context);
    }
    case 'cas-docs': {
      const { observeCasDocs } = await import('./cas-docs/index.js');
      return observeCasDocs(target, context);
    }
    case 'service-tags': {
      const { observeServiceTags } = await import('./service-tags/index.js');
      return observeServiceTags(target, context);
    }
    case 'static': {
      const { observeStatic } = await import('./static/index.js');
      return observeStatic(target, context);
    }
    default:
      return unknownType(target);
  }
}

/** Config validation rules this out; a target built in code may still carry a type no source knows. */
function unknownType(target: never): never {
  const type = (target as { type?: unknown }).type;
  throw new Error(`no source observes targets of type ${JSON.stringify(type)}`);
}

/** The observation of a target nothing usable came back from. */
export function observationError(target: Pick<Target, 'id' | 'type'>, problem: Problem, now: Date): Observation {
  return { targetId: target.id, type: target.type, observedAt: now.toISOString(), status: 'error', entries: [], warnings: [], errors: [problem] };
}

function safeNow(context: SourceContext): Date {
  try {
    return context.now();
  } catch {
    return new Date();
  }
}
