/**
 * Evaluates the subset of GitHub Actions expressions a job's `if:` uses here: context paths
 * (`github.event.workflow_run.event`), single-quoted strings, `==`, `!=`, `&&`, `||`, `!` and parentheses, with
 * GitHub's rules that string comparison ignores case and a missing property is null. Enough to run a workflow's guard
 * against event payloads, since no runner is at hand.
 */
type Value = string | number | boolean | null | Record<string, unknown>;

const TOKEN = /\s*(\|\||&&|==|!=|!|\(|\)|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_.-]*)/y;

export function evaluateGuard(expression: string, contexts: Record<string, unknown>): boolean {
  const tokens = tokenize(expression);
  let position = 0;
  const peek = () => tokens[position];
  const take = (expected?: string) => {
    const token = tokens[position++];
    if (token === undefined || (expected !== undefined && token !== expected)) {
      throw new Error(`expected ${expected ?? 'a term'} at token ${position} of ${JSON.stringify(expression)}`);
    }
    return token;
  };

  const or = (): Value => {
    let left = and();
    while (peek() === '||') {
      take();
      const right = and();
      left = truthy(left) ? left : right;
    }
    return left;
  };
  const and = (): Value => {
    let left = comparison();
    while (peek() === '&&') {
      take();
      const right = comparison();
      left = truthy(left) ? right : left;
    }
    return left;
  };
  const comparison = (): Value => {
    const left = unary();
    const operator = peek();
    if (operator !== '==' && operator !== '!=') return left;
    take();
    const equal = same(left, unary());
    return operator === '==' ? equal : !equal;
  };
  const unary = (): Value => {
    if (peek() === '!') {
      take();
      return !truthy(unary());
    }
    if (peek() === '(') {
      take();
      const value = or();
      take(')');
      return value;
    }
    const token = take();
    if (token.startsWith("'")) return token.slice(1, -1).replaceAll("''", "'");
    if (token === 'true' || token === 'false') return token === 'true';
    if (token === 'null') return null;
    return lookup(contexts, token);
  };

  const result = or();
  if (position !== tokens.length) throw new Error(`unexpected ${tokens[position]} in ${JSON.stringify(expression)}`);
  return truthy(result);
}

function tokenize(expression: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.trimEnd().length) {
    const start = TOKEN.lastIndex;
    const match = TOKEN.exec(expression);
    if (!match) throw new Error(`cannot read ${JSON.stringify(expression.slice(start))}`);
    tokens.push(match[1]!);
  }
  return tokens;
}

function lookup(contexts: Record<string, unknown>, path: string): Value {
  let value: unknown = contexts;
  for (const key of path.split('.')) {
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  }
  return value === undefined ? null : (value as Value);
}

function truthy(value: Value): boolean {
  return value !== null && value !== false && value !== 0 && value !== '';
}

function same(left: Value, right: Value): boolean {
  if (typeof left === 'string' && typeof right === 'string') return left.toLowerCase() === right.toLowerCase();
  return left === right;
}
