/** The rtpengine ng client and engine pool: the only boundary to the rtpengine processes. */
export { encodeBencode, decodeBencode, isBencodeDict, BENCODE_LIMITS } from './bencode.js';
export type { BencodeValue, BencodeDict, BencodeInput, BencodeResult, BencodeError, BencodeErrorCode, BencodeDecodeOptions } from './bencode.js';
export { CookieSource } from './cookie.js';
export { parseEngineUrl, type EngineAddress } from './engine-url.js';
export { NgError, NgTimeoutError, NgUnavailableError, NoEngineError } from './errors.js';
export { NgClient, NG_CLIENT_DEFAULTS, type NgClientOptions, type NgClientStats, type NgDict, type NgReply, type NgRequestOptions } from './ng-client.js';
export { NG_WS_SUBPROTOCOL } from './ws-transport.js';
export { NG_COMMANDS, answerDict, deleteDict, offerDict, queryDict, replyCalls, replySdp } from './commands.js';
export type { NgCommand, OfferParams, AnswerParams, DeleteParams, QueryParams } from './commands.js';
export { DEFAULT_FLAG_SETS, MEDIA_DIRECTIONS, mergeFlagSet, resolveFlagSets } from './flags.js';
export type { FlagConfig, FlagSet, FlagSets, FlagValue, InterfaceLabels, MediaDirection } from './flags.js';
export { Engine, type EngineHealth, type EngineSnapshot } from './engine.js';
export { EnginePool, ENGINE_POOL_DEFAULTS, rendezvousScore, type EngineConfig, type EnginePoolOptions, type MediaResult } from './engine-pool.js';
export { createEnginePool, flagSetsFromConfig, type EnginePoolDeps, type RtpengineConfig } from './pool-from-config.js';
