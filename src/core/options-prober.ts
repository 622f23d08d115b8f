import type { ProbeOutcome, Target } from '../routing/index.js';
import { HeaderList } from '../sip/headers.js';
import { newBranch, newTag, randomToken } from '../sip/ids.js';
import { SipRequest } from '../sip/message.js';
import { formatHostPort } from '../sip/uri.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { TransportLayer } from '../transport/index.js';
import { ownVia } from './record-route.js';

/**
 * Health probes for backend targets: an OPTIONS (or the configured method)
 * through a real client transaction; any response means the peer is alive,
 * silence past the timeout or a transport error means it is not.
 */
export class OptionsProber {
  readonly #transport: TransportLayer;
  readonly #transactions: TransactionLayer;
  readonly #product: string;
  #seq = 1;

  constructor(transport: TransportLayer, transactions: TransactionLayer, product: string) {
    this.#transport = transport;
    this.#transactions = transactions;
    this.#product = product;
  }

  async probe(target: Target, method: string, timeoutMs: number): Promise<ProbeOutcome> {
    let flow;
    try {
      flow = await this.#transport.connect({ transport: target.transport, address: target.address ?? target.host, port: target.port });
    } catch (err) {
      return { kind: 'error', message: (err as Error).message };
    }
    const l = flow.listener;
    const self = `sip:${formatHostPort(l.advertise, l.boundPort)}`;
    const targetUri = `sip:${formatHostPort(target.host, target.port)}${target.transport === 'udp' ? '' : `;transport=${target.transport}`}`;
    const headers = new HeaderList();
    headers.append('via', ownVia(l, newBranch()));
    headers.append('max-forwards', '70');
    headers.append('from', `<${self}>;tag=${newTag()}`);
    headers.append('to', `<${targetUri}>`);
    headers.append('call-id', `${randomToken(12)}@probe`);
    headers.append('cseq', `${this.#seq++} ${method}`);
    headers.append('user-agent', this.#product);
    headers.append('content-length', '0');
    const req = new SipRequest(method, targetUri, headers);

    return new Promise<ProbeOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: ProbeOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const timer = setTimeout(() => {
        tx.abandon();
        finish({ kind: 'timeout' });
      }, timeoutMs);
      timer.unref();
      const tx = this.#transactions.createClientTransaction(req, flow, {
        onResponse: (res) => { if (res.status >= 200) finish({ kind: 'response', status: res.status }); },
        onTimeout: () => finish({ kind: 'timeout' }),
        onTransportError: () => finish({ kind: 'error', message: 'transport error' }),
      });
    });
  }
}
