/** Topology hiding's public face (proxy mode; the B2BUA hides by construction). */
export { TopologyHiding, TOPOLOGY_DEFAULTS, TOPOLOGY_KEY_PARAM, type HiddenRequest, type TopologyHidingOptions } from './topology-hiding.js';
export { CallIdMask } from './call-id-mask.js';
export { HeaderPolicy, DEFAULT_STRIP_HEADERS } from './header-policy.js';
export { ownPathsFor } from './own-paths.js';
