import { z } from 'zod';
import type { OutSystemsTarget } from '../../config.js';
import { fetchText } from '../../net/http.js';
import { AllowlistError, toProblem, type Problem } from '../../problem.js';
import type { SourceContext } from '../source.js';

/** The fields used from LifeTime API v2 "GET /environments/{EnvironmentKey}/" (the Environment object); others are ignored. */
const environmentSchema = z.object({
  Name: z.string().optional(),
  HostName: z.string().optional(),
  IsCloudEnvironment: z.boolean().optional(),
  NumberOfFrontEnds: z.int().min(0),
});

/** "GET /environments/": for a 404, the environments the token can see, so the right key can be picked. */
const environmentListSchema = z.array(z.looseObject({ Key: z.string(), Name: z.string().optional() }));

/** The HTTP status a failed fetch answered with, if it got one. */
function statusOf(error: unknown): number | undefined {
  if (!(error instanceof AllowlistError) || error.code !== 'http-status') return undefined;
  const match = /\bHTTP (\d{3})\b/.exec(error.message);
  return match ? Number(match[1]) : undefined;
}

function warn(code: string, message: string): LifeTimeCheck {
  return { warnings: [{ code, message }] };
}

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
  // The API lives at the host's root; a URL copied from the console ("https://acme-lt.outsystemsenterprise.com/lifetime") keeps only its origin.
  const api = `${new URL(lifetime.url).origin}/lifetimeapi/rest/v2`;
  const url = `${api}/environments/${encodeURIComponent(lifetime.environmentKey)}/`;
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

  const get = (address: string) =>
    fetchText(address, {
      timeoutMs: context.config.http.timeoutMs,
      maxBytes: Math.min(context.config.http.maxBytes, MAX_ENVIRONMENT_BYTES),
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      contentTypes: ['application/json'],
      ...(context.signal ? { signal: context.signal } : {}),
    });
  let body: string;
  try {
    body = (await get(url)).text;
  } catch (error) {
    const status = statusOf(error);
    if (status === 403) {
      return warn(
        'lifetime-forbidden',
        redact(
          `Target "${target.id}": the front-end count was not checked because LifeTime refused to show environment ${lifetime.environmentKey} (HTTP 403): ` +
            `give the service account whose token is in ${lifetime.tokenSetting} a role that can see this environment (LifeTime > User Management > Service Accounts).`,
        ),
      );
    }
    if (status === 404) {
      const known = await get(`${api}/environments/`)
        .then((list) => environmentListSchema.parse(JSON.parse(list.text)))
        .then((list) => list.map((e) => `${e.Name ? `"${e.Name}" ` : ''}(${e.Key})`).join(', '))
        .catch(() => undefined);
      return warn(
        'lifetime-environment-unknown',
        redact(
          `Target "${target.id}": the front-end count was not checked because LifeTime has no environment with key ${lifetime.environmentKey} (HTTP 404): ` +
            (known === undefined
              ? 'check "lifetime.environmentKey" (LifeTime > Environments) and "lifetime.url" (the LifeTime host).'
              : known === ''
                ? 'the service account sees no environment at all; check "lifetime.url" and its roles.'
                : `set "lifetime.environmentKey" to one of the environments it sees: ${known}.`),
        ),
      );
    }
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
  const hostName = parsed.data.HostName?.toLowerCase().replace(/\.$/, '');
  if (target.environmentHost !== undefined && hostName !== undefined && hostName !== target.environmentHost) {
    warnings.push({
      code: 'lifetime-environment-mismatch',
      message: redact(
        `Target "${target.id}": LifeTime environment ${environment} is ${hostName}, but "environmentHost" is ${target.environmentHost}: ` +
          'the environmentKey may belong to another environment, so its front-end count says nothing about this one. Check "lifetime.environmentKey" (LifeTime > Environments).',
      ),
    });
  }
  if (parsed.data.IsCloudEnvironment === false) {
    warnings.push({
      code: 'lifetime-not-cloud',
      message: redact(
        `Target "${target.id}": LifeTime reports environment ${environment} as not on OutSystems Cloud (IsCloudEnvironment false). ` +
          'Static front-end addresses are the OutSystems Cloud model; on self-managed infrastructure outgoing traffic leaves through your own network, so allowlist its egress addresses instead.',
      ),
    });
  }
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
