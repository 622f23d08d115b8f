import type { Writable } from 'node:stream';
import { adminBaseUrl, requestAdmin } from './client.js';

/** The CLI's admin commands and the API route each one calls (CONTRACT.md). */
export const ADMIN_COMMANDS = {
  status: { method: 'GET', path: '/healthz' },
  flows: { method: 'GET', path: '/api/flows' },
  dialogs: { method: 'GET', path: '/api/dialogs' },
  backends: { method: 'GET', path: '/api/backends' },
  engines: { method: 'GET', path: '/api/engines' },
  reload: { method: 'POST', path: '/api/reload' },
} as const;

export type AdminCommandName = keyof typeof ADMIN_COMMANDS;

export function isAdminCommand(name: string): name is AdminCommandName {
  return Object.hasOwn(ADMIN_COMMANDS, name);
}

export interface AdminCommandOptions {
  /** `http://host:port`, or a bare `host:port` listen address. */
  adminUrl: string;
  token?: string;
  /** Receives the answer, as 2-space pretty JSON. */
  out: Writable;
  /** Receives diagnostics. @default out */
  err?: Writable;
  /** @default ADMIN_CLIENT_TIMEOUT_MS */
  timeoutMs?: number;
}

/**
 * Run one admin command against the admin API and print the answer.
 * @returns the exit code: 0 on a 2xx answer; 1 when the API is unreachable
 * or answers otherwise (the body is still printed); 2 for a malformed URL.
 */
export async function runAdminCommand(name: AdminCommandName, options: AdminCommandOptions): Promise<number> {
  const err = options.err ?? options.out;
  const command = ADMIN_COMMANDS[name];
  if (!command) {
    await write(err, `unknown admin command "${String(name)}"; use one of ${Object.keys(ADMIN_COMMANDS).join(', ')}\n`);
    return 2;
  }
  const base = adminBaseUrl(options.adminUrl);
  if (!base.ok) {
    await write(err, `--admin: ${base.error}\n`);
    return 2;
  }
  const requestOptions = { ...(options.token ? { token: options.token } : {}), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) };
  const answer = await requestAdmin(base.value, command.method, command.path, requestOptions);
  if (!answer.ok) {
    await write(err, `${answer.error}\n`);
    return 1;
  }
  const { status, body } = answer.value;
  if (body !== undefined) await write(options.out, typeof body === 'string' ? withNewline(body) : `${JSON.stringify(body, null, 2)}\n`);
  if (status >= 200 && status < 300) return 0;
  const hint = status === 401 ? ' (the admin API needs its token: admin.token)' : '';
  await write(err, `admin API answered HTTP ${status} to ${command.method} ${command.path}${hint}\n`);
  return 1;
}

function withNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** Resolve once the chunk is handed off, so the caller may exit right after. */
function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(text, (error) => (error ? reject(error) : resolve())));
}
