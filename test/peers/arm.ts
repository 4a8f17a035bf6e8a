import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { Handler } from './http.js';

/** The fields of the weekly file that the ARM "Service Tags - List" API also returns. */
export interface ServiceTagsFile {
  readonly changeNumber: number;
  readonly cloud: string;
  readonly values: ReadonlyArray<{ name: string; id: string; properties: { changeNumber: number } & Record<string, unknown> }>;
}

/**
 * The weekly file as ARM answers it: the same values[], but change numbers are strings and the
 * envelope names the resource (learn.microsoft.com/rest/api/virtualnetwork/service-tags/list).
 */
export function asArmResponse(
  file: ServiceTagsFile,
  subscriptionId: string,
  values = file.values,
  nextLink?: string,
): Record<string, unknown> {
  return {
    name: file.cloud.toLowerCase(),
    id: `/subscriptions/${subscriptionId}/providers/Microsoft.Network/serviceTags/${file.cloud.toLowerCase()}`,
    type: 'Microsoft.Network/serviceTags',
    changeNumber: String(file.changeNumber),
    cloud: file.cloud,
    values: values.map((value) => ({ ...value, properties: { ...value.properties, changeNumber: String(value.properties.changeNumber) } })),
    ...(nextLink ? { nextLink } : {}),
  };
}

export interface ArmPeerOptions {
  readonly subscriptionId: string;
  readonly location: string;
  readonly apiVersion: string;
  readonly token: string;
  /** Page bodies, by the value of the "page" query parameter ("" for the first request). */
  readonly pages: Readonly<Record<string, unknown>>;
}

/**
 * An ARM-like endpoint that answers like management.azure.com: 401 without a bearer token,
 * 403 for a token it does not know, 400 for a wrong api-version, 404 for any other path.
 */
export function armServiceTags(options: ArmPeerOptions): Handler {
  const path = `/subscriptions/${options.subscriptionId}/providers/Microsoft.Network/locations/${options.location}/serviceTags`;
  return (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://arm.invalid');
    const authorization = request.headers.authorization ?? '';
    if (!authorization.startsWith('Bearer '))
      return cloudError(response, 401, 'AuthenticationFailed', 'Authentication failed. The Authorization header is missing.');
    if (authorization !== `Bearer ${options.token}`)
      return cloudError(response, 403, 'AuthorizationFailed', 'The client does not have authorization to perform action.');
    if (url.pathname !== path) return cloudError(response, 404, 'NotFound', `No route for ${url.pathname}`);
    if (url.searchParams.get('api-version') !== options.apiVersion)
      return cloudError(response, 400, 'InvalidApiVersionParameter', 'The api-version is invalid.');
    const page = options.pages[url.searchParams.get('page') ?? ''];
    if (page === undefined) return cloudError(response, 404, 'NotFound', 'No such page');
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify(page));
  };
}

function cloudError(response: ServerResponse, status: number, code: string, message: string): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify({ error: { code, message } }));
}

/**
 * A TokenCredential is @azure/identity's documented extension point: any object with getToken.
 * This one hands out a fixed token and records the scopes it was asked for.
 */
export class StaticTokenCredential implements TokenCredential {
  readonly requestedScopes: string[][] = [];

  constructor(private readonly token: string | null | Error) {}

  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken | null> {
    this.requestedScopes.push(Array.isArray(scopes) ? scopes : [scopes]);
    if (this.token instanceof Error) throw this.token;
    if (this.token === null) return null;
    return { token: this.token, expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}
