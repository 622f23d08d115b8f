/** Backend routing: dispatcher groups, selection algorithms, health probing, domain routes; operator routing logic (rules, script, HTTP service). */
export { Dispatcher } from './dispatcher.js';
export type { BackendsSnapshot, DispatcherOptions, ProbeFunction, TargetSnapshot } from './dispatcher.js';
export { ALGORITHMS } from './spec.js';
export type { Algorithm, BackendGroupSpec, ProbeSpec, RouteSpec, TargetSpec } from './spec.js';
export type { LastProbe, Target, TargetAddress, TargetTransport } from './target.js';
export { parseTargetUri } from './target.js';
export type { FailureReason, ProbeOutcome } from './health.js';
export { isAlive } from './health.js';
export type { SelectionKey } from './algorithms.js';
export { checkRoutingConfig, RoutingConfigError } from './validate.js';
export type { RoutingConfigProblem } from './validate.js';
export { retryAfterSeconds } from './retry-after.js';
export { DEFAULT_GROUP } from './domain-routes.js';
export type { HostResolver } from './resolve.js';
export { fnv1a32, uriHashKey } from './hash.js';
export { CallRouter } from './call-router.js';
export type { CallRouterOptions, RoutingLogic } from './call-router.js';
export { RouteRules, domainRoutesOf } from './route-rules.js';
export { checkDecision } from './decision.js';
export { loadRoutingLogic } from './routing-logic.js';
export type {
  RelayDecision, ReplyDecision, RouteFunction, RouteResult, RoutingDecision, RoutingParty, RoutingRequest, RoutingRequestData,
  RoutingRequestJson, RoutingSource, RoutingUri,
} from './script/types.js';
