/**
 * The users file of security.auth.mode local. One user a line:
 *   user:password            the password itself; HA1 is computed for whichever realm asks
 *   user:realm:HA1           H(user:realm:password) as hex (32 digits MD5, 64 SHA-256), as
 *                            `htdigest` writes it, so no plain password need be stored
 * `#` comments and blank lines are ignored, surrounding whitespace too. A
 * password that looks like `realm:<32 or 64 hex digits>` reads as HA1.
 * Passwords are held in private fields and never appear in an error or a log line.
 */
import { readFile } from 'node:fs/promises';
import { SbcError } from '../errors.js';
import { computeHa1, type DigestAlgorithm } from '../sip/digest.js';
import { fail, ok, type Result } from '../sip/result.js';

/** Where an authenticator finds HA1 for a user. */
export interface DigestUsers {
  /** HA1 of `username` in `realm` for `algorithm` (`-sess` shares its base's HA1); undefined when unknown. */
  ha1(username: string, realm: string, algorithm: DigestAlgorithm): string | undefined;
}

type HashFamily = 'md5' | 'sha256';

const HA1_HEX = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{64})$/;
/** Usernames are printable and contain neither spaces nor colons (the field separator). */
const USERNAME = /^[^\s:\x00-\x1f\x7f]+$/;
const CONTROL = /[\x00-\x1f\x7f]/;

export class UsersFile implements DigestUsers {
  readonly #passwords = new Map<string, string>();
  /** `user\0realm\0family` → HA1 (lower-case hex). */
  readonly #ha1 = new Map<string, string>();
  readonly #names = new Set<string>();

  /** Number of users listed. */
  get size(): number {
    return this.#names.size;
  }

  ha1(username: string, realm: string, algorithm: DigestAlgorithm): string | undefined {
    const family: HashFamily = algorithm.startsWith('SHA-256') ? 'sha256' : 'md5';
    const stored = this.#ha1.get(`${username}\0${realm}\0${family}`);
    if (stored !== undefined) return stored;
    const password = this.#passwords.get(username);
    return password === undefined ? undefined : computeHa1(family === 'sha256' ? 'SHA-256' : 'MD5', username, realm, password);
  }

  /** Parse the file's text; an error names the file and the line, never the line's content. */
  static parse(text: string, fileName: string): Result<UsersFile, string> {
    const users = new UsersFile();
    /** Line of each user's password, of each user's first HA1, of each (user, realm, family) HA1. */
    const passwordLine = new Map<string, number>();
    const firstHa1Line = new Map<string, number>();
    const ha1Line = new Map<string, number>();
    const lines = text.replace(/^\uFEFF/, '').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const lineNo = i + 1;
      const line = lines[i]!.trim();
      if (line.length === 0 || line.startsWith('#')) continue;
      const where = `${fileName} line ${lineNo}`;
      const colon = line.indexOf(':');
      const username = colon < 0 ? line : line.slice(0, colon);
      if (colon < 0 || colon === line.length - 1) return fail(`${where}: expected user:password or user:realm:HA1`);
      if (!USERNAME.test(username)) return fail(`${where}: the user name is empty or contains spaces or control characters`);
      const rest = line.slice(colon + 1);
      const lastColon = rest.lastIndexOf(':');
      const hash = lastColon < 0 ? '' : rest.slice(lastColon + 1);
      if (lastColon > 0 && HA1_HEX.test(hash)) {
        const realm = rest.slice(0, lastColon);
        if (CONTROL.test(realm)) return fail(`${where}: the realm contains control characters`);
        const family: HashFamily = hash.length === 64 ? 'sha256' : 'md5';
        const key = `${username}\0${realm}\0${family}`;
        const clash = passwordLine.get(username) ?? ha1Line.get(key);
        if (clash !== undefined) return fail(`${where}: user ${username} is already listed on line ${clash}`);
        ha1Line.set(key, lineNo);
        if (!firstHa1Line.has(username)) firstHa1Line.set(username, lineNo);
        users.#ha1.set(key, hash.toLowerCase());
        users.#names.add(username);
      } else {
        if (CONTROL.test(rest)) return fail(`${where}: the password contains control characters`);
        const clash = passwordLine.get(username) ?? firstHa1Line.get(username);
        if (clash !== undefined) return fail(`${where}: user ${username} is already listed on line ${clash}`);
        passwordLine.set(username, lineNo);
        users.#passwords.set(username, rest);
        users.#names.add(username);
      }
    }
    return ok(users);
  }
}

/**
 * Read and parse the users file at start-up. Throws SbcError
 * SBC_ERR_CONFIG_KEY naming security.auth.usersFile, the file and the line,
 * so a bad file stops the gateway before it takes traffic.
 */
export async function loadUsersFile(path: string): Promise<UsersFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new SbcError('SBC_ERR_CONFIG_KEY', `security.auth.usersFile: cannot read ${path} (${reason})`, { cause: err });
  }
  const parsed = UsersFile.parse(text, path);
  if (!parsed.ok) throw new SbcError('SBC_ERR_CONFIG_KEY', `security.auth.usersFile: ${parsed.error}`);
  return parsed.value;
}
