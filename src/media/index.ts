/**
 * Media control: the rtpengine ng client and engine pool. The offer/answer
 * orchestration in the pipeline and the embedded relay build on this face.
 */
export * from './rtpengine/index.js';
