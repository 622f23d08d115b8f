/** The SIP message layer: pure, no I/O. */
export { ok, fail, type Result } from './result.js';
export { HeaderList, canonicalName, displayName, isMultiValue, splitCommaValues, type HeaderField } from './headers.js';
export { SipRequest, SipResponse, type SipMessage } from './message.js';
export { parseUri, formatUri, formatHostPort, formatParams, type SipUri, type Params } from './uri.js';
export { parseVia, formatVia, viaBranch, type Via } from './headers/via.js';
export { parseNameAddr, formatNameAddr, tagOf, type NameAddr } from './headers/name-addr.js';
export { parseCSeq, formatCSeq, type CSeq } from './headers/cseq.js';
export { parseMessage, findHeadEnd, PARSER_LIMITS, type ParserLimits, type ParseError, type ParseErrorCode } from './parser.js';
export { serialize } from './serializer.js';
export { StreamFramer, isKeepalive, FRAMER_LIMITS, type FramerEvent, type FramerLimits } from './framer.js';
export { createResponse, type ResponseOptions } from './response.js';
export { reasonPhrase } from './status.js';
export { randomToken, newBranch, newTag, BRANCH_MAGIC } from './ids.js';
