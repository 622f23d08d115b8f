/**
 * An empty object for a hash's fields, in V8's dictionary mode from the
 * start. Topology record fields are named per dialog (`r.<to-tag>`,
 * `c.<to-tag>`), so every record written into a plain `{}` taught V8 a new
 * hidden class per field (the profile of a proxied call: ~5 % of the
 * gateway's CPU in property-transition code). Deleting a property that is
 * not the last one added switches an object to dictionary mode; the
 * prototype stays Object.prototype, so the result is an ordinary object to
 * every caller.
 */
export function hashFields(copyOf?: Readonly<Record<string, string>>): Record<string, string> {
  const fields: Record<string, string> = { dictionary: '', mode: '' };
  delete fields['dictionary'];
  delete fields['mode'];
  if (copyOf !== undefined) for (const name in copyOf) fields[name] = copyOf[name]!;
  return fields;
}
