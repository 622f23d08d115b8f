/**
 * A copy of `s` that shares no memory with the message it was cut from.
 * V8 keeps the whole parent string alive behind a substring, or behind a
 * concatenation of substrings: state that outlives its message (our view of
 * registrations, for one) copies its strings with this, so that it holds a
 * few bytes instead of the message text.
 */
export function detached(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
