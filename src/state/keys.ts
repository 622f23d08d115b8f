/**
 * The state key schema. Every key is `<prefix><family>:<part>[:<part>…]`;
 * the prefix (`state.redis.keyPrefix`, e.g. `sbc:`) lets several deployments
 * share one Redis. Every key has a TTL; the planned families and their TTLs:
 *
 * | key | holds | TTL |
 * | --- | --- | --- |
 * | `flow:<flowId>` | hash: owning node, transport, remote address, registered AOR | registration expiry + 30 s, refreshed by each REGISTER and keepalive; 300 s for a flow that never registered |
 * | `topo:<recordId>` | hash: the Record-Route set and Contact removed by topology hiding (per inside tag) | 180 s while the dialog is early, then 12 h (`topologyHiding.dialogTtlSeconds`), refreshed by re-INVITE/UPDATE; deleted after BYE and on a failed initial INVITE |
 * | `dialog:<legKey>` | hash: one B2BUA leg (side, Call-ID, tags, remote target, route set, client flow token, peer leg key, state) | 600 s while early, 12 h once confirmed, refreshed by in-dialog requests; deleted when the call ends |
 * | `engine-call:<callId>` | string: URL of the media engine that owns the call, so one call stays on one engine | 24 h, refreshed on each offer/answer; deleted when the media session is deleted |
 * | `rate:<ip>:<windowStart>` | counter: requests from one source IP in one window (one-second wall-clock windows, counted by the workers and nodes where the source reached its share; see security/shared-screen.ts) | 2 × window (2 s for a 1 s window), set at creation and kept |
 * | `ban:<ip>` | string: why the source is banned | `security.rateLimit.banSeconds` (300 s by default) |
 * | `recover:<identity>` | JSON: the held flow of a client whose connection closed with dialogs (flow id, node), by `i:<instance>\|<reg-id>` or `c:<user>@<host>` | `flowRecovery.graceSeconds`; deleted when the client comes back |
 * | `flow-alias:<flowId>` | JSON: where the client of a closed flow came back (flow id, node, node URI, the new flow's token) | 12 h (as dialog records) |
 * | `calls` (a channel, no key) | call slots of security.maxCallsPerUser admitted and ended on each worker or node (see security/shared-call-limits.ts) | — |
 * | `ban` (a channel, no key) | published `<origin> <reason> <ip>` for each ban begun on a worker or node; every screen applies it | — |
 * | `secret:<name>` | string: a secret every node and worker sharing the store uses (`secret:flow-token`: flow tokens, digest nonces, topology keys when `flowTokens.secret` is empty) | 30 days, refreshed every 6 h by every node; put back by a node that still holds it |
 * | `reg:<aor>` | hash: local registrar bindings of one AOR, a field per binding (JSON: Contact, expiry, q, instance, reg-id, flow token, node) | `registrar.maxExpires` + 30 s, reset by each REGISTER; expired fields are pruned on the next read or write |
 * | `regtotal:<gateway>` | hash: bindings each worker of one gateway holds (registrar.maxBindings counts them all), a field per worker id (`<count> <latest expiry ms>`) | `registrar.maxExpires` + 30 s, reset by each write |
 * | `callrec:<callId>` | string: JSON of an answered call's record so far (src/records), for the node that sees its end | `callRecords.maxCallSeconds`; deleted when the record is written |
 * | `callrec-done:<callId>:<startMs>` | string: the node that wrote the call's record (setIfAbsent: written once) | `callRecords.maxCallSeconds` + 60 s |
 *
 * Families are added here first, with their TTL, before code writes them.
 */

/** The key families in use; each part of the schema above. */
export const KEY_FAMILY = {
  flow: 'flow',
  topology: 'topo',
  engineCall: 'engine-call',
  dialog: 'dialog',
  rate: 'rate',
  ban: 'ban',
  registration: 'reg',
  registrationTotal: 'regtotal',
  callRecord: 'callrec',
  callRecordDone: 'callrec-done',
  flowRecovery: 'recover',
  flowAlias: 'flow-alias',
  secret: 'secret',
} as const;

export type KeyFamily = (typeof KEY_FAMILY)[keyof typeof KEY_FAMILY];

/**
 * Build a state key: the prefix as given, then the family and parts joined
 * by `:`. Parts come from the network (Call-IDs may contain `:`), so `%` and
 * `:` inside a part are percent-escaped to keep distinct part lists distinct.
 *
 * @example stateKey('sbc:', KEY_FAMILY.engineCall, callId) // "sbc:engine-call:a84b4c76e66710"
 */
export function stateKey(prefix: string, family: KeyFamily, ...parts: string[]): string {
  let key = prefix + family;
  for (const part of parts) key += ':' + escapePart(part);
  return key;
}

function escapePart(part: string): string {
  if (!part.includes(':') && !part.includes('%')) return part;
  return part.replaceAll('%', '%25').replaceAll(':', '%3A');
}
