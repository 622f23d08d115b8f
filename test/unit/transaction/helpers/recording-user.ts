/** A ClientTransactionUser that records every callback in order. */
import type { SipResponse } from '../../../../src/sip/message.js';
import type { ClientTransaction } from '../../../../src/transaction/transaction.js';
import type { ClientTransactionUser } from '../../../../src/transaction/transaction-user.js';

export class RecordingUser implements ClientTransactionUser {
  readonly events: string[] = [];
  readonly responses: SipResponse[] = [];

  onResponse(res: SipResponse, _tx: ClientTransaction): void {
    this.responses.push(res);
    this.events.push(`response ${res.status}`);
  }

  onTimeout(_tx: ClientTransaction): void {
    this.events.push('timeout');
  }

  onTransportError(_tx: ClientTransaction): void {
    this.events.push('transport-error');
  }

  onTerminated(_tx: ClientTransaction): void {
    this.events.push('terminated');
  }
}
