export { ActiveCall, type CallRecord, type Endpoint, type MediaPath } from './active-call.js';
export { CallRecorder, type CallRecorderOptions } from './call-recorder.js';
export { RecordFile } from './record-file.js';
export { RecordWebhook, type WebhookSettings } from './record-webhook.js';
export { RecordsPart, type RecordsPartOptions } from './records-part.js';
