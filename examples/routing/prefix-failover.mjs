// Prefix routing (longest prefix wins) with failover.
// Each prefix names a backend group; the group's targets are tried in
// priority order, so a carrier that answers 503 or does not answer hands the
// call to the next one (backends.<group>.algorithm: priority). Emergency
// numbers go to their own trunk whatever else matches.
//
// backends:
//   carrier-de:  { algorithm: priority, targets: [{ uri: "sip:de1.example:5060", priority: 0 }, { uri: "sip:de2.example:5060", priority: 1 }] }
//   carrier-int: { algorithm: priority, targets: [...] }
//   emergency:   { targets: [...] }
// routing: { script: examples/routing/prefix-failover.mjs }

const EMERGENCY = new Set(['110', '112', '911']);
/** Longest first. */
const PREFIXES = [
  ['+4930', 'carrier-de'],
  ['+49', 'carrier-de'],
  ['+', 'carrier-int'],
].sort((a, b) => b[0].length - a[0].length);

/** @type {import('webrtc-sbc').RouteFunction} */
export default function route(request) {
  const user = request.ruri.user ?? '';
  if (EMERGENCY.has(user)) return { relay: { group: 'emergency' } };
  for (const [prefix, group] of PREFIXES) {
    if (user.startsWith(prefix)) return { relay: { group } };
  }
  return undefined;
}
