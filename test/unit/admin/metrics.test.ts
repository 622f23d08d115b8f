import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createMetrics, METRIC_LIMITS, methodLabel, statusClassLabel } from '../../../src/admin/index.js';

async function scrape(registry: Registry): Promise<string> {
  return registry.metrics();
}

describe('createMetrics', () => {
  it('registers the SBC metrics and the default process metrics on the given registry', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    assert.equal(metrics.registry, registry);
    const text = await scrape(registry);
    for (const name of [
      'sbc_sip_messages_total', 'sbc_sip_responses_total', 'sbc_sip_parse_errors_total', 'sbc_rejected_requests_total',
      'sbc_active_flows', 'sbc_transactions', 'sbc_transactions_created_total', 'sbc_backend_up', 'sbc_backend_selections_total',
      'sbc_registrations_relayed_total', 'sbc_active_dialogs', 'sbc_media_engine_up', 'sbc_media_sessions',
      'sbc_request_latency_seconds', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
  });

  it('counts unknown methods as "other" and responses by class', async () => {
    const metrics = createMetrics();
    metrics.sipMessages.inc({ direction: 'in', transport: 'udp', method: 'REGISTER' });
    metrics.sipMessages.inc({ direction: 'in', transport: 'udp', method: 'X-HACK-1' });
    metrics.sipMessages.inc({ direction: 'in', transport: 'udp', method: 'X-HACK-2' });
    metrics.sipMessages.inc({ direction: 'out', transport: 'ws', method: 'response' });
    metrics.sipResponses.inc({ direction: 'out', status: 486 });
    metrics.sipResponses.inc({ direction: 'out', status: 480 });
    metrics.sipResponses.inc({ direction: 'in', status: 200 });
    const text = await scrape(metrics.registry);
    assert.match(text, /^sbc_sip_messages_total\{direction="in",transport="udp",method="REGISTER"\} 1$/m);
    assert.match(text, /^sbc_sip_messages_total\{direction="in",transport="udp",method="other"\} 2$/m);
    assert.match(text, /^sbc_sip_messages_total\{direction="out",transport="ws",method="response"\} 1$/m);
    assert.doesNotMatch(text, /X-HACK/);
    assert.match(text, /^sbc_sip_responses_total\{direction="out",class="4xx"\} 2$/m);
    assert.match(text, /^sbc_sip_responses_total\{direction="in",class="2xx"\} 1$/m);
  });

  it('bounds free-form labels: reasons past the limit become "other"', async () => {
    const metrics = createMetrics();
    for (let i = 0; i < METRIC_LIMITS.maxReasons + 10; i++) metrics.rejectedRequests.inc({ reason: `reason-${i}` });
    metrics.rejectedRequests.inc({ reason: 'reason-0' });
    const text = await scrape(metrics.registry);
    const series = text.split('\n').filter((l) => l.startsWith('sbc_rejected_requests_total{'));
    assert.equal(series.length, METRIC_LIMITS.maxReasons + 1);
    assert.match(text, /^sbc_rejected_requests_total\{reason="reason-0"\} 2$/m);
    assert.match(text, /^sbc_rejected_requests_total\{reason="other"\} 10$/m);
  });

  it('gauges move and a removed series disappears', async () => {
    const metrics = createMetrics();
    metrics.activeFlows.inc({ transport: 'wss' });
    metrics.activeFlows.inc({ transport: 'wss' });
    metrics.activeFlows.dec({ transport: 'wss' });
    metrics.backendUp.set({ group: 'default', target: 'sip:10.0.0.1:5080' }, 1);
    metrics.backendUp.set({ group: 'default', target: 'sip:10.0.0.2:5080' }, 0);
    metrics.backendUp.remove({ group: 'default', target: 'sip:10.0.0.2:5080' });
    metrics.activeDialogs.set(3);
    metrics.registrationsRelayed.inc();
    let text = await scrape(metrics.registry);
    assert.match(text, /^sbc_active_flows\{transport="wss"\} 1$/m);
    assert.match(text, /^sbc_backend_up\{group="default",target="sip:10.0.0.1:5080"\} 1$/m);
    assert.doesNotMatch(text, /10\.0\.0\.2/);
    assert.match(text, /^sbc_active_dialogs 3$/m);
    assert.match(text, /^sbc_registrations_relayed_total 1$/m);

    metrics.requestLatency.observe({ method: 'INVITE' }, 0.0007);
    const stop = metrics.requestLatency.startTimer({ method: 'BOGUS' });
    stop();
    text = await scrape(metrics.registry);
    assert.match(text, /^sbc_request_latency_seconds_bucket\{le="0.001",method="INVITE"\} 1$/m);
    assert.match(text, /^sbc_request_latency_seconds_bucket\{le="0.0005",method="INVITE"\} 0$/m);
    assert.match(text, /^sbc_request_latency_seconds_count\{method="other"\} 1$/m);
  });

  it('cannot be registered twice on one registry', () => {
    const registry = new Registry();
    createMetrics(registry);
    assert.throws(() => createMetrics(registry), /already been registered/);
  });
});

describe('label helpers', () => {
  it('methodLabel keeps known methods and "response"', () => {
    assert.equal(methodLabel('INVITE'), 'INVITE');
    assert.equal(methodLabel('response'), 'response');
    assert.equal(methodLabel('invite'), 'other');
    assert.equal(methodLabel('FOO'), 'other');
  });

  it('statusClassLabel maps 100..699 to classes', () => {
    assert.equal(statusClassLabel(100), '1xx');
    assert.equal(statusClassLabel(699), '6xx');
    assert.equal(statusClassLabel(99), 'other');
    assert.equal(statusClassLabel(700), 'other');
  });
});
