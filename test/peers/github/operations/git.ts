import { notFound, validationFailed } from '../replies.js';
import type { Operation } from './operation.js';
import { gitCommitBody, listedTreeBody, refBody, treeBody } from './shapes.js';

/** Git data: blobs, trees, commits and refs. */
export const gitOperations: Record<string, Operation> = {
  'git/get-blob': (peer, { params }) => {
    const content = peer.git.blob(params.file_sha!);
    if (content === undefined) return notFound();
    return {
      status: 200,
      body: {
        sha: params.file_sha,
        node_id: 'B',
        size: Buffer.byteLength(content),
        url: '',
        content: Buffer.from(content).toString('base64'),
        encoding: 'base64',
      },
    };
  },

  'git/create-tree': (peer, { body }) => {
    const baseSha = body.base_tree as string | undefined;
    const base = baseSha === undefined ? new Map<string, string>() : peer.git.tree(baseSha);
    if (!base) return validationFailed('base_tree is not a valid tree oid');
    const tree = new Map(base);
    for (const entry of body.tree as Array<{ path: string; sha?: string | null; content?: string; type?: string }>) {
      if (entry.type !== undefined && entry.type !== 'blob') return validationFailed('the peer only supports blob entries');
      if (entry.content !== undefined) tree.set(entry.path, peer.git.putBlob(entry.content));
      else if (entry.sha === null) tree.delete(entry.path);
      else if (entry.sha !== undefined && peer.git.blob(entry.sha) !== undefined) tree.set(entry.path, entry.sha);
      else return validationFailed(`tree.sha ${entry.sha} wasn't found`);
    }
    const sha = peer.git.putTree(tree);
    return { status: 201, body: treeBody(peer, sha) };
  },

  'git/get-tree': (peer, { params, query }) => {
    // GitHub takes a tree sha or a ref name here; the tool asks with the base commit's tree sha.
    const tree = peer.git.tree(params.tree_sha!);
    return tree ? { status: 200, body: listedTreeBody(peer, params.tree_sha!, query.recursive !== undefined) } : notFound();
  },

  'git/get-commit': (peer, { params }) => {
    const commit = peer.git.findCommit(params.commit_sha!);
    return commit ? { status: 200, body: gitCommitBody(peer, commit) } : notFound();
  },

  'git/create-commit': (peer, { body }) => {
    const tree = body.tree as string;
    const parents = (body.parents as string[] | undefined) ?? [];
    if (!peer.git.tree(tree)) return validationFailed('Tree SHA does not exist');
    if (parents.some((p) => !peer.git.findCommit(p))) return validationFailed('Parent SHA does not exist or is not a commit object');
    const commit = peer.git.putCommit(tree, parents, body.message as string, peer.botLogin);
    return { status: 201, body: gitCommitBody(peer, commit) };
  },

  'git/get-ref': (peer, { params }) => {
    const sha = peer.git.ref(params.ref!);
    return sha ? { status: 200, body: refBody(peer, params.ref!, sha) } : notFound();
  },

  'git/create-ref': (peer, { body }) => {
    const full = body.ref as string;
    if (!/^refs\/.+\/.+/.test(full)) return validationFailed('Reference name is not valid');
    const name = full.slice('refs/'.length);
    if (peer.git.ref(name)) return validationFailed('Reference already exists');
    if (!peer.git.findCommit(body.sha as string)) return validationFailed('Object does not exist');
    peer.git.setRef(name, body.sha as string);
    return { status: 201, body: refBody(peer, name, body.sha as string) };
  },

  'git/update-ref': (peer, { params, body }) => {
    const current = peer.git.ref(params.ref!);
    const next = body.sha as string;
    if (!current) return validationFailed('Reference does not exist');
    if (!peer.git.findCommit(next)) return validationFailed('Object does not exist');
    if (body.force !== true && !peer.git.isAncestor(current, next)) return validationFailed('Update is not a fast forward');
    peer.git.setRef(params.ref!, next);
    return { status: 200, body: refBody(peer, params.ref!, next) };
  },

  'git/delete-ref': (peer, { params }) => {
    if (!peer.git.ref(params.ref!)) return validationFailed('Reference does not exist');
    peer.git.setRef(params.ref!, undefined);
    if (params.ref!.startsWith('heads/')) peer.branchDeleted(params.ref!.slice('heads/'.length), peer.botLogin);
    return { status: 204 };
  },
};
