import { z } from 'zod';
import type { OutSystemsTarget } from '../../config.js';
import { fetchText } from '../../net/http.js';
import { toProblem, type Problem } from '../../problem.js';
import type { SourceContext } from '../source.js';

/** The fields used from LifeTime API v2 "GET /environments/{EnvironmentKey}/" (the Environment object); others are ignored. */
const environmentSchema = z.object({
  Name: z.string().optional(),
  NumberOfFrontEnds: z.int().min(0),
});

/** An environment description is a few hundred bytes; a much larger reply is not one. */
const MAX_ENVIRONMENT_BYTES = 64 * 1024;

export interface LifeTimeCheck {
  /** Never errors: LifeTime only tells whether the configured front-end list looks complete. */
  readonly warnings: readonly Problem[];
  /** NumberOfFrontEnds as LifeTime reported it, when it could be read. */
  readonly reportedFrontEnds?: number;
}

/**
 * Compares the number of configured front-ends with LifeTime's NumberOfFrontEnds, because the
 * OutSystems article warns that a new front-end breaks integrations until its IP is allowlisted,
 * and DNS cannot reveal a front-end nobody listed.
 */
export async function checkLifeTime(target: OutSystemsTarget, context: SourceContext): Promise<LifeTimeCheck> {
  const lifetime = target.lifetime;
  if (!lifetime) return { warnings: [] };
  const token = context.env[lifetime.tokenSetting]?.trim();
  if (!token) {
    return {
      warnings: [
        {
          code: 'lifetime-token-missing',
          message: `Target "${target.id}": the front-end count was not checked with LifeTime because the app setting ${lifetime.tokenSetting} (a LifeTime service account token) is not set`,
        },
      ],
    };
  }
  const url = `${lifetime.url.replace(/\/+$/, '')}/lifetimeapi/rest/v2/environments/${encodeURIComponent(lifetime.environmentKey)}/`;
  const redact = (text: string) => text.split(token).join('[redacted]');
  const unavailable = (why: string): LifeTimeCheck => ({
    warnings: [
      {
        code: 'lifetime-unavailable',
        message: redact(
          `Target "${target.id}": the front-end count was not checked because LifeTime environment ${lifetime.environmentKey} could not be read: ${why}`,
        ),
      },
    ],
  });

  let body: string;
  try {
    const response = await fetchText(url, {
      timeoutMs: context.config.http.timeoutMs,
      maxBytes: Math.min(context.config.http.maxBytes, MAX_ENVIRONMENT_BYTES),
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      contentTypes: ['application/json'],
      ...(context.signal ? { signal: context.signal } : {}),
    });
    body = response.text;
  } catch (error) {
    return unavailable(toProblem(error, 'lifetime-unavailable').message);
  }

  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return unavailable('the reply is not JSON');
  }
  const parsed = environmentSchema.safeParse(json);
  if (!parsed.success) return unavailable('the reply has no valid NumberOfFrontEnds (a whole number, 0 or more)');

  const reported = parsed.data.NumberOfFrontEnds;
  const configured = target.frontEnds.length;
  const environment = parsed.data.Name ? `"${parsed.data.Name}" (${lifetime.environmentKey})` : lifetime.environmentKey;
  const warnings: Problem[] = [];
  if (reported > configured) {
    warnings.push({
      code: 'new-front-end',
      message: redact(
        `Target "${target.id}": LifeTime reports ${reported} front-end servers in environment ${environment} but ${configured} are configured. ` +
          'Outgoing requests from an unlisted front-end are blocked until its address is allowlisted: find its name in Service Center > Monitoring > Environment Health ' +
          '(Front-end Servers) and add it to "frontEnds".',
      ),
    });
  } else if (reported < configured) {
    warnings.push({
      code: 'front-end-count-mismatch',
      message: redact(
        `Target "${target.id}": LifeTime reports ${reported} front-end servers in environment ${environment} but ${configured} are configured. ` +
          'A front-end may have been removed, or a configured name belongs to another environment: compare "frontEnds" with Service Center > Monitoring > Environment Health.',
      ),
    });
  }
  return { warnings, reportedFrontEnds: reported };
}
