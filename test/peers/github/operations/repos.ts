import { createHash } from 'node:crypto';
import { notFound } from '../replies.js';
import type { Operation } from './operation.js';
import { apiUrl, commitOf, htmlUrl, repositoryBody } from './shapes.js';

/** Repositories: the repository itself, branches and file contents. */
export const reposOperations: Record<string, Operation> = {
  'repos/get': (peer) => ({ status: 200, body: repositoryBody(peer) }),

  'repos/get-branch': (peer, { params, ifNoneMatch }) => {
    const sha = peer.git.ref(`heads/${params.branch}`);
    if (!sha) return { status: 404, body: { message: 'Branch not found', documentation_url: 'https://docs.github.com/rest' } };
    const body = { name: params.branch, commit: commitOf(peer, sha), protected: false, _links: { self: '', html: '' }, protection_url: '' };
    // GitHub's REST API answers a GET whose If-None-Match names the current ETag with 304 and no body
    // (docs: "Best practices for using the REST API", conditional requests); the ETag is a hash of the answer.
    const etag = `W/"${createHash('sha256').update(JSON.stringify(body)).digest('hex')}"`;
    if (ifNoneMatch.split(',').some((tag) => tag.trim() === etag)) return { status: 304, headers: { etag } };
    return { status: 200, body, headers: { etag } };
  },

  'repos/get-content': (peer, { params, query }) => {
    const sha = query.ref === undefined ? peer.git.ref(`heads/${peer.base}`) : (peer.git.ref(`heads/${query.ref}`) ?? query.ref);
    const commit = sha === undefined ? undefined : peer.git.findCommit(sha);
    if (!commit)
      return {
        status: 404,
        body: { message: `No commit found for the ref ${query.ref}`, documentation_url: 'https://docs.github.com/rest' },
      };
    const blob = peer.git.tree(commit.tree)?.get(params.path!);
    if (blob === undefined) return notFound();
    const content = peer.git.blob(blob)!;
    const name = params.path!.split('/').pop()!;
    return {
      status: 200,
      body: {
        type: 'file',
        encoding: 'base64',
        size: Buffer.byteLength(content),
        name,
        path: params.path,
        content: Buffer.from(content).toString('base64').replace(/.{60}/g, '$&\n'),
        sha: blob,
        url: `${apiUrl(peer)}/contents/${params.path}?ref=${sha}`,
        git_url: `${apiUrl(peer)}/git/blobs/${blob}`,
        html_url: `${htmlUrl(peer)}/blob/${sha}/${params.path}`,
        download_url: `https://raw.githubusercontent.com/${peer.owner}/${peer.repo}/${sha}/${params.path}`,
        _links: { self: '', git: '', html: '' },
      },
    };
  },
};
