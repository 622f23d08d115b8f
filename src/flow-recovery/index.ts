export { FlowRecovery, type FlowRecoveryOptions, type FlowResolution, type FlowState } from './flow-recovery.js';
export { FlowRecoveryPart } from './flow-recovery-part.js';
export { ProxyDialogs, CLIENT_GONE_REASON, type ProxyDialog, type CallTeardown } from './proxy-dialogs.js';
export { ProxyBye, byeRequest, type ByeSpec } from './client-gone-bye.js';
export { RecoveryHooks } from './pipeline-hooks.js';
export { identityOf, identityKeys, type ClientIdentity } from './client-identity.js';
export { mediaBetweenNodes } from './node-hop-media.js';
