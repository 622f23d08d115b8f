/**
 * The admin messages between the supervisor and its workers:
 *
 *   supervisor → worker  { sbc: 'admin', id, kind: 'route', method, path, query, body }
 *                        { sbc: 'admin', id, kind: 'metrics' }
 *   worker → supervisor  { sbc: 'admin', id, worker, status, contentType, payload }   (route)
 *                        { sbc: 'admin', id, worker, metrics }                          (metrics: prom-client JSON)
 *
 * `worker` is the answering worker's WEBRTC_SBC_WORKER_ID.
 */
export const ADMIN_MESSAGE = 'admin';
