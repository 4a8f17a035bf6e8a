/** What an operation answers, and the error answers GitHub gives, in GitHub's words. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  contentType?: string;
}

export function validationFailed(message: string): Reply {
  return {
    status: 422,
    body: {
      message: 'Validation Failed',
      errors: [{ resource: 'PullRequest', code: 'custom', message }],
      documentation_url: 'https://docs.github.com/rest',
    },
  };
}

export function validationFailedField(resource: string, field: string, code: string): Reply {
  return {
    status: 422,
    body: { message: 'Validation Failed', errors: [{ resource, field, code }], documentation_url: 'https://docs.github.com/rest' },
  };
}

export function notFound(): Reply {
  return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' } };
}
