import type { FileSpec } from '../config.js';
import { aggregate, parseCidr, type Cidr } from '../ipset.js';
import { AllowlistError } from '../problem.js';
import { readTemplateEntries } from './template.js';

/**
 * The addresses a rule file on the base branch holds, read back in the file's own format. The publisher keeps
 * every entry it reads here unless a confirmed removal names it, so a file that cannot be read exactly is an
 * error (nothing is pushed), never an empty list.
 */
export function readFileEntries(file: FileSpec, content: string | null): Cidr[] {
  if (content === null) return [];
  switch (file.format) {
    case 'plain':
      return aggregate(readPlain(file.path, content));
    case 'json':
      return aggregate(readJsonList(file.path, parseJson(file.path, content), '(root)'));
    case 'tfvars-json':
      return aggregate(readTfvars(file.path, parseJson(file.path, content), file.variable));
    case 'template':
      return aggregate(readTemplateEntries(file, content));
  }
}

function unreadable(path: string, why: string): AllowlistError {
  return new AllowlistError(
    'rule-file-unreadable',
    `${path} on the base branch cannot be read back (${why}); nothing was pushed, so no entry of it is lost. Fix the file or remove the line.`,
  );
}

function entry(path: string, text: string, where: string): Cidr {
  try {
    return parseCidr(text);
  } catch (error) {
    throw unreadable(path, `${where}: ${(error as Error).message}`);
  }
}

function readPlain(path: string, content: string): Cidr[] {
  return content.split(/\r?\n/).flatMap((line, index) => {
    const text = line.trim();
    return text === '' || text.startsWith('#') ? [] : [entry(path, text, `line ${index + 1}`)];
  });
}

function parseJson(path: string, content: string): unknown {
  try {
    return JSON.parse(content);
  } catch (error) {
    throw unreadable(path, `not valid JSON: ${(error as Error).message}`);
  }
}

function readJsonList(path: string, value: unknown, where: string): Cidr[] {
  if (!Array.isArray(value)) throw unreadable(path, `${where} is not a list of CIDR strings`);
  return value.map((item, index) => {
    if (typeof item !== 'string') throw unreadable(path, `${where}[${index}] is not a string`);
    return entry(path, item, `${where}[${index}]`);
  });
}

function readTfvars(path: string, value: unknown, variable: string): Cidr[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw unreadable(path, 'not a JSON object of variables');
  const names = [`${variable}_ipv4`, `${variable}_ipv6`];
  const foreign = Object.keys(value).filter((key) => !names.includes(key));
  if (foreign.length > 0)
    throw unreadable(path, `it holds variables this file does not write (${foreign.join(', ')}); keep them in another file`);
  return names.flatMap((name) => (name in value ? readJsonList(path, (value as Record<string, unknown>)[name], name) : []));
}
