/**
 * Turns what a user types in the destination field into a SIP URI string.
 * Pure, so it runs in Node tests too.
 */

/**
 * `sip:`/`sips:` URIs are kept; `user@host` gets `sip:`; a bare user or number
 * is placed in the domain of the registered AOR. Visual separators in phone
 * numbers (spaces, dashes, dots, parentheses) are dropped per RFC 3966 §5.1.1.
 * @returns undefined when nothing usable was typed
 */
export function toTargetUri(typed: string, aorDomain: string): string | undefined {
  const target = typed.trim();
  if (target === '') return undefined;
  if (/^sips?:/i.test(target)) return target;
  if (target.includes('@')) return `sip:${target}`;
  const user = isPhoneNumber(target) ? target.replace(/[\s\-.()]/g, '') : target;
  if (user === '' || /\s/.test(user) || aorDomain === '') return undefined;
  return `sip:${user}@${aorDomain}`;
}

/** The host (and port) part of a `sip:user@host[:port][;params]` AOR. */
export function domainOf(aor: string): string {
  const at = aor.indexOf('@');
  if (at < 0) return '';
  const rest = aor.slice(at + 1);
  const end = rest.search(/[;?>]/);
  return end < 0 ? rest : rest.slice(0, end);
}

function isPhoneNumber(value: string): boolean {
  return /^\+?[0-9*#][0-9*#\s\-.()]*$/.test(value);
}
