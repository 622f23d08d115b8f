/** The embedded media relay (werift): browsers ⇄ plain RTP in-process, behind MediaHooks. */
export { EmbeddedMedia, type EmbeddedMediaOptions, type EmbeddedMediaSettings, type EmbeddedSnapshot } from './embedded-media.js';
export { RelayRefusal, type RefusalReason } from './relay-refusal.js';
