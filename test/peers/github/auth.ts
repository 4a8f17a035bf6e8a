import { randomBytes, verify } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { notFound, type Reply } from './replies.js';
import type { GitHubPeerOptions } from './types.js';

/** Who may call: a personal access token, installation tokens issued here, and the GitHub App's JWTs for issuing them. */
export class PeerAuth {
  private readonly accessTokens = new Set<string>();

  constructor(
    private readonly app: GitHubPeerOptions['app'],
    token: string | undefined,
    private readonly readOnly = false,
  ) {
    if (token) this.accessTokens.add(token);
  }

  /** Undefined when the request may go on; GitHub's 401 otherwise. */
  authorize(operationId: string, headers: IncomingMessage['headers']): Reply | undefined {
    const [scheme, credential] = String(headers.authorization ?? '').split(' ');
    // GitHub serves its meta document to anyone; credentials, when sent, must still be good ones.
    if (operationId === 'meta/get' && headers.authorization === undefined) return undefined;
    if (operationId === 'apps/create-installation-access-token' || operationId === 'apps/get-authenticated') {
      return scheme?.toLowerCase() === 'bearer' && credential && this.validAppJwt(credential)
        ? undefined
        : { status: 401, body: { message: 'A JSON web token could not be decoded', documentation_url: 'https://docs.github.com/rest' } };
    }
    const known =
      (scheme?.toLowerCase() === 'token' || scheme?.toLowerCase() === 'bearer') &&
      credential !== undefined &&
      this.accessTokens.has(credential);
    return known ? undefined : { status: 401, body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' } };
  }

  private validAppJwt(jwt: string): boolean {
    const app = this.app;
    const [header, payload, signature] = jwt.split('.');
    if (!app || !header || !payload || !signature) return false;
    const signed = verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), app.publicKey, Buffer.from(signature, 'base64url'));
    if (!signed) return false;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown; exp?: number; iat?: number };
    const now = Math.floor(Date.now() / 1000);
    return (
      String(claims.iss) === String(app.id) &&
      (claims.exp ?? 0) > now &&
      (claims.iat ?? Infinity) <= now + 60 &&
      (claims.exp ?? 0) - (claims.iat ?? 0) <= 600 + 60
    );
  }

  /** An installation access token for the app's installation, accepted from then on. */
  issueToken(installationId: number): Reply {
    if (installationId !== this.app?.installationId) return notFound();
    const token = `ghs_${randomBytes(18).toString('hex')}`;
    this.accessTokens.add(token);
    return {
      status: 201,
      body: {
        token,
        expires_at: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
        permissions: {
          contents: this.readOnly ? 'read' : 'write',
          pull_requests: this.readOnly ? 'read' : 'write',
          issues: this.readOnly ? 'read' : 'write',
          metadata: 'read',
        },
        repository_selection: 'selected',
      },
    };
  }
}
