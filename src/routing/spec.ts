/**
 * Input shapes of the routing layer. They mirror the `backends` and `routes`
 * configuration keys one to one (CONTRACT.md), so the config layer can hand
 * its validated values straight in.
 */

/** Selection algorithms a backend group may use. */
export const ALGORITHMS = [
  'round-robin', 'weighted', 'priority', 'hash-callid', 'hash-from', 'hash-to', 'hash-ruri',
] as const;

export type Algorithm = (typeof ALGORITHMS)[number];

/** `backends.<group>.probe` */
export interface ProbeSpec {
  /** SIP method sent as the probe, normally OPTIONS. */
  method: string;
  /** Seconds between probes of one target; 0 turns probing off (passive health only). */
  intervalSeconds: number;
  /** Consecutive failed probes (or failed requests) that mark a target down. */
  failuresToDown: number;
  /** Consecutive answered probes that bring a down target back up. */
  successesToUp: number;
  /** How long a probe waits for an answer. @default min(2000, interval) */
  timeoutMs?: number;
  /** Final response codes that count as alive; absent: any except 408 and 503. */
  aliveCodes?: number[];
}

/** `backends.<group>.targets[i]` */
export interface TargetSpec {
  /** `sip:host[:port][;transport=udp|tcp|tls]` or `sips:host[:port]`. */
  uri: string;
  /** Share of traffic for `weighted`; 0 makes the target a last resort. */
  weight: number;
  /** Lower is preferred for `priority`. */
  priority: number;
}

/** `backends.<group>` */
export interface BackendGroupSpec {
  algorithm: Algorithm;
  probe: ProbeSpec;
  targets: TargetSpec[];
}

/** `routes[i]`: requests whose Request-URI host matches `domain` go to group `backend`. */
export interface RouteSpec {
  /** Exact domain, `*.suffix` for any subdomain, or `*` for everything. Case-insensitive. */
  domain: string;
  backend: string;
}
