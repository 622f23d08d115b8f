/**
 * An out-of-dialog request that makes no dialog (MESSAGE, OPTIONS, INFO):
 * re-issued on the far side with a Call-ID, From tag, CSeq and Via of ours,
 * its final response mapped back with a To tag of ours. Nothing outlives the
 * transaction.
 */
import { newTag, randomToken } from '../sip/ids.js';
import type { SipRequest } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import type { ServerTransaction } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';
import type { BRoute, CallContext } from './call.js';
import { copyEndToEnd } from './header-policy.js';
import { identityOf, Leg } from './leg.js';
import { OutboundRequest, type Candidate } from './outbound-request.js';

export interface StandaloneRelay {
  ctx: CallContext;
  server: ServerTransaction;
  req: SipRequest;
  source: Flow;
  route: BRoute;
}

export function relayStandalone({ ctx, server, req, route }: StandaloneRelay): void {
  const from = req.from();
  const to = req.to();
  const leg = new Leg({
    side: 'b',
    key: '',
    callId: randomToken(16),
    localTag: newTag(),
    localUri: from === undefined ? (req.headers.get('from') ?? '') : identityOf(from),
    remoteUri: to === undefined ? (req.headers.get('to') ?? '') : identityOf(to),
    localCseq: Math.floor(Math.random() * 20_000),
    remoteTarget: req.uri,
    routeSet: route.kind === 'uri' ? req.headers.values('route') : [],
    hop: route.kind === 'flow' ? { kind: 'flow', token: ctx.legs.tokenFor(route.flow) } : { kind: 'route' },
    inside: route.kind !== 'flow',
  });
  const candidates: Candidate[] = route.kind === 'targets'
    ? route.targets.map((t) => ({ label: t.uri, target: t, flow: () => ctx.legs.flowToTarget(t) }))
    : route.kind === 'flow'
      ? [{ label: `flow:${route.flow.id}`, flow: async () => (route.flow.closed ? undefined : route.flow) }]
      : [{ label: leg.nextHopUri(), flow: () => ctx.legs.flowFor(leg) }];
  const toTag = newTag();
  const answer = (status: number, reason?: string, copyFrom?: Parameters<typeof copyEndToEnd>[0]): void => {
    const res = createResponse(req, status, reason, { toTag });
    if (copyFrom !== undefined) copyEndToEnd(copyFrom, res);
    if (ctx.productName !== undefined && !res.headers.has('server')) res.headers.set('server', ctx.productName);
    server.respond(res);
  };
  const out = new OutboundRequest({
    candidates,
    failover: route.kind === 'targets',
    failoverTimeoutMs: ctx.failoverTimeoutMs,
    unreachableStatus: route.kind === 'flow' ? ctx.flowFailedStatus : 503,
    dispatcher: ctx.dispatcher,
    logger: ctx.logger,
    build: async () => {
      const copy = leg.request(req.method);
      const mf = req.maxForwards();
      copy.headers.set('max-forwards', String(mf === undefined ? 70 : mf - 1));
      copyEndToEnd(req, copy);
      return copy;
    },
    send: (copy, flow, user) => ctx.legs.send(copy, flow, user),
    onResponse: (res) => {
      if (res.status < 200) return;
      // A downstream 503 would read as our own overload (RFC 3261 §16.7 step 6).
      if (res.status === 503) answer(500, 'Server Internal Error', res);
      else answer(res.status, res.reason, res);
    },
    onGiveUp: (status, reason) => answer(status, reason),
  });
  out.start();
}
