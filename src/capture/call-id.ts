/** Longest Call-ID we put into a correlation chunk; a longer one is cut there. */
const MAX_CALL_ID_BYTES = 1024;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/**
 * The Call-ID of a raw SIP message (`Call-ID:` or the compact `i:`, any
 * case), read from the header section only, without parsing the message.
 * A view into `data`, not a copy; undefined when there is none.
 */
export function callIdOf(data: Buffer): Buffer | undefined {
  const end = data.length;
  // Line ends are found natively (memchr); only lines starting with c/C/i/I are looked at.
  let line = data.indexOf(LF) + 1;
  while (line > 0 && line < end) {
    const first = data[line];
    if (first === CR || first === LF) return undefined; // end of the headers
    let eol = data.indexOf(LF, line);
    if (eol < 0) eol = end;
    let name = 0;
    if (first === 0x69 || first === 0x49) name = nameLength(data, line, 'call-id') ?? nameLength(data, line, 'i') ?? 0;
    else if (first === 0x63 || first === 0x43) name = nameLength(data, line, 'call-id') ?? 0;
    if (name > 0) {
      let from = line + name;
      while (from < eol && (data[from] === SP || data[from] === HTAB)) from += 1;
      if (data[from] === COLON) {
        from += 1;
        let to = eol;
        while (to > from && (data[to - 1] === CR || data[to - 1] === SP || data[to - 1] === HTAB)) to -= 1;
        while (from < to && (data[from] === SP || data[from] === HTAB)) from += 1;
        return to > from ? data.subarray(from, Math.min(to, from + MAX_CALL_ID_BYTES)) : undefined;
      }
    }
    line = eol + 1;
  }
  return undefined;
}

/** `name.length` when the header at `at` is named `name` (lower case), case-insensitively; else undefined. */
function nameLength(data: Buffer, at: number, name: string): number | undefined {
  for (let i = 0; i < name.length; i++) {
    const c = data[at + i];
    if (c === undefined || (c | 0x20) !== name.charCodeAt(i)) return undefined;
  }
  const next = data[at + name.length];
  return next === COLON || next === SP || next === HTAB ? name.length : undefined;
}
