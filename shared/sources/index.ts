import type { Target } from '../config.js';
import { stageDocuments } from '../net/document-cache.js';
import { toProblem, type Problem } from '../problem.js';
import { sourceOf } from './registry.js';
import { stamp, type Observation, type Source, type SourceContext } from './source.js';

/**
 * Observes one target with its source. Never throws: the engine compares every target's
 * observation, and an exception here must become an error for that target alone.
 * Each source's behaviour is imported on first use (see registry.ts).
 */
export async function observeTarget(target: Target, context: SourceContext): Promise<Observation> {
  if (!context.documents) return observeOnce(target, context);
  const staged = stageDocuments(context.documents);
  const observation = await observeOnce(target, { ...context, documents: staged.documents });
  const warnings = await staged.settle(observation.status === 'ok');
  return warnings.length === 0 ? observation : { ...observation, warnings: [...observation.warnings, ...warnings] };
}

async function observeOnce(target: Target, context: SourceContext): Promise<Observation> {
  try {
    return await dispatch(target, context);
  } catch (error) {
    return observationError(target, toProblem(error), safeNow(context));
  }
}

async function dispatch(target: Target, context: SourceContext): Promise<Observation> {
  const source = sourceOf(target.type);
  // Config validation rules this out; a target built in code may still carry a type no source knows.
  if (!source) throw new Error(`no source observes targets of type ${JSON.stringify(target.type)}`);
  const observe = (await source.observe()) as Source<Target>;
  return observe(target, context);
}

/** The observation of a target nothing usable came back from. */
export function observationError(target: Pick<Target, 'id' | 'type'>, problem: Problem, now: Date): Observation {
  return stamp(target, now, { status: 'error', entries: [], warnings: [], errors: [problem] });
}

function safeNow(context: SourceContext): Date {
  try {
    return context.now();
  } catch {
    return new Date();
  }
}
