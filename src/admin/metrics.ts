import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ParseErrorCode } from '../sip/parser.js';
import type { TransportProtocol } from '../transport/flow.js';

export type Direction = 'in' | 'out';
export type TransactionType = 'ict' | 'nict' | 'ist' | 'nist';

/** Methods counted under their own name; anything else is "other". */
export const KNOWN_SIP_METHODS: ReadonlySet<string> = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'INFO', 'UPDATE', 'PRACK',
  'SUBSCRIBE', 'NOTIFY', 'REFER', 'MESSAGE', 'PUBLISH',
]);

/** Safe defaults for label bounds, in one place. */
export const METRIC_LIMITS = {
  /** Distinct rejection reasons kept before new ones count as "other". */
  maxReasons: 64,
  /** Distinct backend groups, targets or media engines kept before "other". */
  maxGroups: 256,
  maxTargets: 1024,
  maxEngines: 256,
} as const;

/** Request latency buckets in seconds: sub-millisecond relaying up to slow backends. */
export const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A counter whose labels are typed and normalized to a bounded set. */
export interface CounterHandle<L> {
  inc(labels: L, value?: number): void;
}

/** A gauge whose labels are typed and normalized to a bounded set. */
export interface GaugeHandle<L> {
  set(labels: L, value: number): void;
  inc(labels: L, value?: number): void;
  dec(labels: L, value?: number): void;
  /** Stop reporting one series (a target removed by a reload). */
  remove(labels: L): void;
}

/** A histogram in seconds whose labels are typed and normalized. */
export interface HistogramHandle<L> {
  observe(labels: L, seconds: number): void;
  /** Start timing; the returned function records the elapsed seconds. */
  startTimer(labels: L): () => void;
}

/** Every metric the SBC exports (CONTRACT.md, GET /metrics). */
export interface SbcMetrics {
  readonly registry: Registry;
  /** `sbc_sip_messages_total`; method is the request method or "response". */
  readonly sipMessages: CounterHandle<{ direction: Direction; transport: TransportProtocol; method: string }>;
  /** `sbc_sip_responses_total` by status class (1xx..6xx). */
  readonly sipResponses: CounterHandle<{ direction: Direction; status: number }>;
  /** `sbc_sip_parse_errors_total`. */
  readonly parseErrors: CounterHandle<{ transport: TransportProtocol; code: ParseErrorCode }>;
  /** `sbc_rejected_requests_total` (rate-limited, banned, blocked-user-agent, auth-challenge, call-limit, …). */
  readonly rejectedRequests: CounterHandle<{ reason: string }>;
  /** `sbc_ws_handshakes_rejected_total`: WS/WSS upgrades refused before any SIP (origin-not-allowed, origin-missing, token-missing, token-invalid, token-expired). */
  readonly wsHandshakesRejected: CounterHandle<{ reason: string }>;
  /** `sbc_tls_certificate_expiry_timestamp_seconds`: notAfter of the certificate the TLS/WSS listeners serve, Unix seconds. */
  readonly tlsCertificateExpiry: Gauge;
  /** `sbc_tls_certificate_reloads_total`: certificate pairs re-read from disk, by result (renewed | refused). */
  readonly tlsCertificateReloads: CounterHandle<{ result: 'renewed' | 'refused' }>;
  /** `sbc_active_flows`. */
  readonly activeFlows: GaugeHandle<{ transport: TransportProtocol }>;
  /** `sbc_transactions`: live transactions. */
  readonly transactions: GaugeHandle<{ type: TransactionType }>;
  /** `sbc_transactions_created_total`. */
  readonly transactionsCreated: CounterHandle<{ type: TransactionType }>;
  /** `sbc_backend_up`: 1 up, 0 down. */
  readonly backendUp: GaugeHandle<{ group: string; target: string }>;
  /** `sbc_backend_selections_total`. */
  readonly backendSelections: CounterHandle<{ group: string; target: string }>;
  /** `sbc_registrations_relayed_total`. */
  readonly registrationsRelayed: Counter;
  /** `sbc_flow_recoveries_total`: client flows whose dialogs passed to the client's new flow. */
  readonly flowRecoveries: Counter;
  /** `sbc_client_gone_total`: dialogs ended because their client did not come back within flowRecovery.graceSeconds. */
  readonly clientGone: Counter;
  /** `sbc_client_gone_flows_total`: client flows whose grace ran out. */
  readonly clientGoneFlows: Counter;
  /** `sbc_active_dialogs`. */
  readonly activeDialogs: Gauge;
  /** `sbc_media_engine_up`: 1 up, 0 down. */
  readonly engineUp: GaugeHandle<{ engine: string }>;
  /** `sbc_media_sessions`: sessions open on each engine. */
  readonly mediaSessions: GaugeHandle<{ engine: string }>;
  /** `sbc_media_engine_requests_total`: ng commands by engine, command and result (ok | error | timeout). */
  readonly engineRequests: CounterHandle<{ engine: string; command: string; result: 'ok' | 'error' | 'timeout' }>;
  /** `sbc_media_engine_latency_seconds`: time an ng command took, retransmissions included. */
  readonly engineLatency: HistogramHandle<{ engine: string; command: string }>;
  /** `sbc_request_latency_seconds`: request in to final response out. */
  readonly requestLatency: HistogramHandle<{ method: string }>;
  /** `sbc_overload_state`: 0 normal, 1 shedding new requests. */
  readonly overloadState: Gauge;
  /** `sbc_overload_admit_ratio`: share of new out-of-dialog requests admitted (1 when normal). */
  readonly overloadAdmitRatio: Gauge;
  /** `sbc_overload_shed_total`: new requests shed by admission control, by the signal that tripped it (or "stale": dropped unanswered). */
  readonly overloadShed: CounterHandle<{ reason: string }>;
  /** `sbc_media_embedded_sessions`: calls with media in the embedded relay. */
  readonly embeddedSessions: Gauge;
  /** `sbc_media_embedded_packets_total`: RTP packets by side (webrtc | plain) and direction (in = received from that side). */
  readonly embeddedPackets: CounterHandle<{ side: MediaSide; direction: Direction }>;
  /** `sbc_media_embedded_bytes_total`: RTP bytes, as the packets. */
  readonly embeddedBytes: CounterHandle<{ side: MediaSide; direction: Direction }>;
  /** `sbc_media_embedded_dropped_packets_total`: datagrams dropped (foreign-source | malformed | unknown-payload-type). */
  readonly embeddedDropped: CounterHandle<{ side: MediaSide; reason: 'foreign-source' | 'malformed' | 'unknown-payload-type' }>;
  /** `sbc_media_embedded_lost_packets_total`: packets we sent that the side reported lost (RTCP receiver reports). */
  readonly embeddedLost: CounterHandle<{ side: MediaSide }>;
  /** `sbc_media_embedded_dtmf_events_total`: RFC 4733 events received from a side. */
  readonly embeddedDtmf: CounterHandle<{ side: MediaSide }>;
  /** `sbc_media_embedded_failures_total`: calls refused or sessions freed, by reason. */
  readonly embeddedFailures: CounterHandle<{ reason: string }>;
  /** `sbc_service_calls_total`: built-in service calls (echo, tone) by how they ended. */
  readonly serviceCalls: CounterHandle<{ service: string; end: string }>;
  /** `sbc_hep_sent_total`: captured SIP messages sent to the HEP collector. */
  readonly hepSent: Counter;
  /** `sbc_hep_dropped_total`: captured messages not sent (queue-full | send-error | too-large | no-address). */
  readonly hepDropped: CounterHandle<{ reason: string }>;
  /** `sbc_routing_decisions_total`: operator routing (routes rules, routing.script, routing.http) by who decided, what, the group and a reply's status. */
  readonly routingDecisions: CounterHandle<{ source: string; outcome: string; group: string; status: string }>;
  /** `sbc_call_records_total`: call records written, by why the call ended (bye-caller, cancel, failed, …). */
  readonly callRecords: CounterHandle<{ reason: string }>;
  /** `sbc_call_records_dropped_total`: records lost (webhook-queue-full, webhook-failed, tracking-full, file-unavailable, file-backlog). */
  readonly callRecordsDropped: CounterHandle<{ reason: string }>;
}

/** The two kinds of media leg in the embedded relay. */
export type MediaSide = 'webrtc' | 'plain';

/**
 * Register every SBC metric, plus prom-client's default process metrics, on
 * `registry`. Call once per registry (names must be unique in it).
 */
export function createMetrics(registry: Registry = new Registry()): SbcMetrics {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const reasons = new BoundedLabel(METRIC_LIMITS.maxReasons);
  const groups = new BoundedLabel(METRIC_LIMITS.maxGroups);
  const targets = new BoundedLabel(METRIC_LIMITS.maxTargets);
  const engines = new BoundedLabel(METRIC_LIMITS.maxEngines);
  const backendLabels = (l: { group: string; target: string }) => ({ group: groups.label(l.group), target: targets.label(l.target) });
  const engineLabels = (l: { engine: string }) => ({ engine: engines.label(l.engine) });

  return {
    registry,
    sipMessages: messageCounter((collect) => new Counter({ name: 'sbc_sip_messages_total', help: 'SIP messages received (in) and sent (out)', labelNames: ['direction', 'transport', 'method'] as const, registers, collect })),
    sipResponses: counter(
      new Counter({ name: 'sbc_sip_responses_total', help: 'SIP responses by status class', labelNames: ['direction', 'class'] as const, registers }),
      (l) => ({ direction: l.direction, class: statusClassLabel(l.status) }),
    ),
    parseErrors: counter(
      new Counter({ name: 'sbc_sip_parse_errors_total', help: 'SIP messages that could not be parsed', labelNames: ['transport', 'code'] as const, registers }),
      (l) => ({ transport: l.transport, code: l.code }),
    ),
    rejectedRequests: counter(
      new Counter({ name: 'sbc_rejected_requests_total', help: 'Requests refused or dropped, by reason', labelNames: ['reason'] as const, registers }),
      (l) => ({ reason: reasons.label(l.reason) }),
    ),
    wsHandshakesRejected: counter(
      new Counter({ name: 'sbc_ws_handshakes_rejected_total', help: 'WebSocket handshakes refused before any SIP, by reason', labelNames: ['reason'] as const, registers }),
      (l) => ({ reason: reasons.label(l.reason) }),
    ),
    // Under a supervisor every worker serves (and re-reads) the same pair: the gateway's expiry is the
    // soonest any worker serves, and one renewal on disk is one renewal, however many workers read it.
    tlsCertificateExpiry: new Gauge({ name: 'sbc_tls_certificate_expiry_timestamp_seconds', help: 'notAfter of the certificate served on tls and wss listeners, Unix seconds', registers, aggregator: 'min' }),
    tlsCertificateReloads: counter(
      new Counter({ name: 'sbc_tls_certificate_reloads_total', help: 'Certificate pairs re-read from disk, by result (renewed | refused)', labelNames: ['result'] as const, registers, aggregator: 'max' }),
      (l) => ({ result: l.result }),
    ),
    activeFlows: gauge(
      new Gauge({ name: 'sbc_active_flows', help: 'Open flows', labelNames: ['transport'] as const, registers }),
      (l) => ({ transport: l.transport }),
    ),
    transactions: gauge(
      new Gauge({ name: 'sbc_transactions', help: 'Live SIP transactions', labelNames: ['type'] as const, registers }),
      (l) => ({ type: l.type }),
    ),
    transactionsCreated: counter(
      new Counter({ name: 'sbc_transactions_created_total', help: 'SIP transactions created', labelNames: ['type'] as const, registers }),
      (l) => ({ type: l.type }),
    ),
    backendUp: gauge(
      new Gauge({ name: 'sbc_backend_up', help: 'Backend target health: 1 up, 0 down', labelNames: ['group', 'target'] as const, registers }),
      backendLabels,
    ),
    backendSelections: counter(
      new Counter({ name: 'sbc_backend_selections_total', help: 'Times a backend target was chosen', labelNames: ['group', 'target'] as const, registers }),
      backendLabels,
    ),
    registrationsRelayed: new Counter({ name: 'sbc_registrations_relayed_total', help: 'REGISTER requests relayed to the registrar', registers }),
    flowRecoveries: new Counter({ name: 'sbc_flow_recoveries_total', help: 'Client flows closed with dialogs whose client came back on a new flow within flowRecovery.graceSeconds', registers }),
    clientGone: new Counter({ name: 'sbc_client_gone_total', help: 'Dialogs ended because their client did not come back within flowRecovery.graceSeconds', registers }),
    clientGoneFlows: new Counter({ name: 'sbc_client_gone_flows_total', help: 'Client flows with dialogs whose grace ran out without the client coming back', registers }),
    activeDialogs: new Gauge({ name: 'sbc_active_dialogs', help: 'Active dialogs', registers }),
    engineUp: gauge(
      new Gauge({ name: 'sbc_media_engine_up', help: 'Media engine health: 1 up, 0 down', labelNames: ['engine'] as const, registers }),
      engineLabels,
    ),
    mediaSessions: gauge(
      new Gauge({ name: 'sbc_media_sessions', help: 'Media sessions open on each engine', labelNames: ['engine'] as const, registers }),
      engineLabels,
    ),
    engineRequests: counter(
      new Counter({ name: 'sbc_media_engine_requests_total', help: 'ng commands sent to media engines, by result', labelNames: ['engine', 'command', 'result'] as const, registers }),
      (l) => ({ engine: engines.label(l.engine), command: ngCommandLabel(l.command), result: l.result }),
    ),
    engineLatency: histogram(
      new Histogram({ name: 'sbc_media_engine_latency_seconds', help: 'Time an ng command took', labelNames: ['engine', 'command'] as const, buckets: [...LATENCY_BUCKETS_SECONDS], registers }),
      (l) => ({ engine: engines.label(l.engine), command: ngCommandLabel(l.command) }),
    ),
    requestLatency: histogram(
      new Histogram({
        name: 'sbc_request_latency_seconds',
        help: 'Time from a request arriving to its final response leaving',
        labelNames: ['method'] as const,
        buckets: [...LATENCY_BUCKETS_SECONDS],
        registers,
      }),
      (l) => ({ method: methodLabel(l.method) }),
    ),
    overloadState: new Gauge({ name: 'sbc_overload_state', help: 'Admission control: 0 normal, 1 shedding new requests', registers }),
    overloadAdmitRatio: new Gauge({ name: 'sbc_overload_admit_ratio', help: 'Share of new out-of-dialog requests admitted (1 when normal)', registers }),
    overloadShed: counter(
      new Counter({ name: 'sbc_overload_shed_total', help: 'New requests shed by admission control, by reason', labelNames: ['reason'] as const, registers }),
      (l) => ({ reason: reasons.label(l.reason) }),
    ),
    embeddedSessions: new Gauge({ name: 'sbc_media_embedded_sessions', help: 'Calls with media in the embedded relay', registers }),
    embeddedPackets: counter(
      new Counter({ name: 'sbc_media_embedded_packets_total', help: 'RTP packets through the embedded relay, by side and direction (in = received from that side)', labelNames: ['side', 'direction'] as const, registers }),
      (l) => ({ side: l.side, direction: l.direction }),
    ),
    embeddedBytes: counter(
      new Counter({ name: 'sbc_media_embedded_bytes_total', help: 'RTP bytes through the embedded relay, by side and direction', labelNames: ['side', 'direction'] as const, registers }),
      (l) => ({ side: l.side, direction: l.direction }),
    ),
    embeddedDropped: counter(
      new Counter({ name: 'sbc_media_embedded_dropped_packets_total', help: 'Datagrams the embedded relay dropped, by side and reason', labelNames: ['side', 'reason'] as const, registers }),
      (l) => ({ side: l.side, reason: l.reason }),
    ),
    embeddedLost: counter(
      new Counter({ name: 'sbc_media_embedded_lost_packets_total', help: 'Packets the embedded relay sent that a side reported lost (RTCP)', labelNames: ['side'] as const, registers }),
      (l) => ({ side: l.side }),
    ),
    embeddedDtmf: counter(
      new Counter({ name: 'sbc_media_embedded_dtmf_events_total', help: 'RFC 4733 telephone-events received by the embedded relay, by side', labelNames: ['side'] as const, registers }),
      (l) => ({ side: l.side }),
    ),
    embeddedFailures: counter(
      new Counter({ name: 'sbc_media_embedded_failures_total', help: 'Calls the embedded relay refused or sessions it freed, by reason', labelNames: ['reason'] as const, registers }),
      (l) => ({ reason: reasons.label(l.reason) }),
    ),
    serviceCalls: counter(
      new Counter({ name: 'sbc_service_calls_total', help: 'Calls to the built-in services (echo, tone), by service and how they ended', labelNames: ['service', 'end'] as const, registers }),
      (l) => ({ service: reasons.label(l.service), end: reasons.label(l.end) }),
    ),
    hepSent: new Counter({ name: 'sbc_hep_sent_total', help: 'Captured SIP messages sent to the HEP collector', registers }),
    hepDropped: counter(
      new Counter({ name: 'sbc_hep_dropped_total', help: 'Captured SIP messages not sent to the HEP collector, by reason', labelNames: ['reason'] as const, registers }),
      (l) => ({ reason: reasons.label(l.reason) }),
    ),
    routingDecisions: counter(
      new Counter({ name: 'sbc_routing_decisions_total', help: 'Routing decisions on initial requests: source (rules, script, http), outcome (relay, reply, default, invalid, error, timeout), group, reply status', labelNames: ['source', 'outcome', 'group', 'status'] as const, registers }),
      (l) => ({ source: l.source, outcome: l.outcome, group: groups.label(l.group), status: l.status }),
    ),
    callRecords: counter(
      new Counter({ name: 'sbc_call_records_total', help: 'Call records written, by why the call ended', labelNames: ['reason'] as const, registers }),
      (l) => ({ reason: reasons.label(l.reason) }),
    ),
    callRecordsDropped: counter(
      new Counter({ name: 'sbc_call_records_dropped_total', help: 'Call records lost, by where (webhook queue full, webhook failed, tracking full, file unavailable)', labelNames: ['reason'] as const, registers }),
      (l) => ({ reason: reasons.label(l.reason) }),
    ),
  };
}

const NG_COMMAND_LABELS: ReadonlySet<string> = new Set(['ping', 'offer', 'answer', 'delete', 'query', 'list', 'statistics']);

/** The ng command label: a known command or "other". */
export function ngCommandLabel(command: string): string {
  return NG_COMMAND_LABELS.has(command) ? command : 'other';
}

/** The method label: a known SIP method, "response", or "other". */
export function methodLabel(method: string): string {
  return method === 'response' || KNOWN_SIP_METHODS.has(method) ? method : 'other';
}

/** "1xx".."6xx" for a valid status code, else "other". */
export function statusClassLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 699 ? `${Math.floor(status / 100)}xx` : 'other';
}

/**
 * Keeps the first `max` distinct values of a label and maps later ones to
 * "other", so a runaway caller cannot grow the series without bound.
 */
class BoundedLabel {
  readonly #seen = new Set<string>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  label(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max) return 'other';
    this.#seen.add(value);
    return value;
  }
}

function counter<L, N extends string>(metric: Counter<N>, toLabels: (labels: L) => Record<N, string>): CounterHandle<L> {
  return { inc: (labels, value = 1) => metric.inc(toLabels(labels), value) };
}

type MessageLabels = { direction: Direction; transport: TransportProtocol; method: string };

/**
 * `sbc_sip_messages_total`, counted for every message: the counts build up
 * in one cell per label set, found by three map lookups with no label
 * string built, and go into the prom-client counter when it is collected
 * (a scrape, `get()`), so what it reports is the same.
 */
function messageCounter(make: (collect: () => void) => Counter<'direction' | 'transport' | 'method'>): CounterHandle<MessageLabels> {
  interface Cell { labels: { direction: Direction; transport: TransportProtocol; method: string }; pending: number }
  // direction → transport → method label → cell; bounded by the label sets (methods beyond the known ones are "other").
  const cells = new Map<Direction, Map<TransportProtocol, Map<string, Cell>>>();
  const all: Cell[] = [];
  const metric = make(() => {
    for (const c of all) {
      if (c.pending === 0) continue;
      metric.inc(c.labels, c.pending);
      c.pending = 0;
    }
  });
  return {
    inc: (l, value = 1) => {
      let byTransport = cells.get(l.direction);
      if (byTransport === undefined) cells.set(l.direction, (byTransport = new Map()));
      let byMethod = byTransport.get(l.transport);
      if (byMethod === undefined) byTransport.set(l.transport, (byMethod = new Map()));
      const method = methodLabel(l.method);
      let cell = byMethod.get(method);
      if (cell === undefined) {
        cell = { labels: { direction: l.direction, transport: l.transport, method }, pending: 0 };
        byMethod.set(method, cell);
        all.push(cell);
      }
      cell.pending += value;
    },
  };
}

function gauge<L, N extends string>(metric: Gauge<N>, toLabels: (labels: L) => Record<N, string>): GaugeHandle<L> {
  return {
    set: (labels, value) => metric.set(toLabels(labels), value),
    inc: (labels, value = 1) => metric.inc(toLabels(labels), value),
    dec: (labels, value = 1) => metric.dec(toLabels(labels), value),
    remove: (labels) => metric.remove(toLabels(labels)),
  };
}

function histogram<L, N extends string>(metric: Histogram<N>, toLabels: (labels: L) => Record<N, string>): HistogramHandle<L> {
  return {
    observe: (labels, seconds) => metric.observe(toLabels(labels), seconds),
    startTimer: (labels) => {
      const end = metric.startTimer(toLabels(labels));
      return () => void end();
    },
  };
}
