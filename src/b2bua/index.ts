/** B2BUA mode's public face: the request taker the pipeline hands dialogs to. */
export { B2bua, type B2buaOptions, type DialogSnapshot } from './b2bua.js';
export { dialogRecordKey, DIALOG_KEY_FAMILY } from './dialog-records.js';
