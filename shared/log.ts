/**
 * How the core tells whoever runs it (a Functions invocation, the CLI, a test) about progress and trouble.
 * debug is for chatter a person only wants while investigating (the host drops it at the default Information level).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Log = (level: LogLevel, message: string) => void;
