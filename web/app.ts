/**
 * The softphone page: wires index.html's controls to a {@link Phone} and renders its view.
 * `window.softphone` exposes the same actions the buttons use, for the Chromium e2e tests.
 */
import { lossPercent, type CallQuality } from './call-quality.js';
import { Phone, type AccountOptions, type CallLogEntry, type PhoneView } from './phone.js';
import { accountDefaults, readGatewayInfo } from './gateway-defaults.js';

/** The test hook; every method goes through the same code as the matching button. */
export interface SoftphoneHook {
  state(): string;
  register(opts: AccountOptions): Promise<void>;
  call(target: string): Promise<void>;
  answer(): Promise<void>;
  hangup(): Promise<void>;
  hold(on: boolean): Promise<void>;
  restartIce(): Promise<{ local: [string, string]; remote: [string, string] }>;
  mute(on: boolean): void;
  dtmf(tone: string): void;
  stats(): Promise<{ inboundPackets: number; outboundPackets: number; audioEnergy: number; jitter: number; lost: number }>;
}

declare global {
  interface Window {
    softphone: SoftphoneHook;
  }
}

const MAX_LOG_ENTRIES = 50;
const MAX_DTMF_SHOWN = 32;

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`index.html lacks #${id}`);
  return found;
}

const ui = {
  status: element('status', HTMLElement),
  accountDetails: element('account-details', HTMLDetailsElement),
  accountSummary: element('account-summary', HTMLElement),
  accountForm: element('account-form', HTMLFormElement),
  server: element('server', HTMLInputElement),
  aor: element('aor', HTMLInputElement),
  authUser: element('auth-user', HTMLInputElement),
  password: element('password', HTMLInputElement),
  displayName: element('display-name', HTMLInputElement),
  stun: element('stun', HTMLInputElement),
  hint: element('gateway-hint', HTMLElement),
  register: element('register', HTMLButtonElement),
  unregister: element('unregister', HTMLButtonElement),
  incoming: element('incoming', HTMLElement),
  incomingCaller: element('incoming-caller', HTMLElement),
  answer: element('answer', HTMLButtonElement),
  decline: element('decline', HTMLButtonElement),
  dialForm: element('dial-form', HTMLFormElement),
  destination: element('destination', HTMLInputElement),
  call: element('call', HTMLButtonElement),
  dialPad: element('dial-pad', HTMLElement),
  dtmfSent: element('dtmf-sent', HTMLOutputElement),
  hangup: element('hangup', HTMLButtonElement),
  mute: element('mute', HTMLButtonElement),
  hold: element('hold', HTMLButtonElement),
  audio: element('remote-audio', HTMLAudioElement),
  qIn: element('q-in', HTMLElement),
  qOut: element('q-out', HTMLElement),
  qLost: element('q-lost', HTMLElement),
  qJitter: element('q-jitter', HTMLElement),
  qLevel: element('q-level', HTMLMeterElement),
  qEnergy: element('q-energy', HTMLElement),
  logEmpty: element('log-empty', HTMLElement),
  log: element('call-log', HTMLOListElement),
};

let view: PhoneView = { state: 'idle', status: 'Not registered', connected: false, registered: false };

const phone = new Phone(ui.audio, {
  onChange: (next) => {
    const previous = view;
    view = next;
    renderView(next, previous);
  },
  onCallEnded: addLogEntry,
  onQuality: renderQuality,
});

/** The actions behind the buttons, shared with the test hook. */
const actions = {
  // The form always shows the account in use, whether it was typed or came from the hook.
  register: (opts: AccountOptions) => phone.register(writeAccount(opts)),
  unregister: () => phone.unregister(),
  call: (target: string) => phone.call(target),
  answer: () => phone.answer(),
  decline: () => phone.decline(),
  hangup: () => phone.hangup(),
  hold: (on: boolean) => phone.hold(on),
  restartIce: () => phone.restartIce(),
  mute: (on: boolean) => phone.mute(on),
  dtmf: (tone: string) => {
    phone.dtmf(tone);
    ui.dtmfSent.value = (ui.dtmfSent.value + tone).slice(-MAX_DTMF_SHOWN);
  },
  stats: () => phone.stats(),
};

window.softphone = {
  state: () => phone.state,
  register: actions.register,
  call: actions.call,
  answer: actions.answer,
  hangup: actions.hangup,
  hold: actions.hold,
  restartIce: actions.restartIce,
  mute: actions.mute,
  dtmf: actions.dtmf,
  stats: actions.stats,
};

// Errors from a click go to the status line; the promise-returning hook still rejects for tests.
function fromClick(action: () => unknown): void {
  Promise.resolve()
    .then(action)
    .catch((error: unknown) => showError(error instanceof Error ? error.message : String(error)));
}

function showError(message: string): void {
  ui.status.textContent = message;
  ui.status.dataset['state'] = 'error';
}

function readAccount(): AccountOptions {
  return {
    server: ui.server.value,
    aor: ui.aor.value,
    authUser: ui.authUser.value,
    password: ui.password.value,
    displayName: ui.displayName.value,
    stun: ui.stun.value,
  };
}

function writeAccount(account: AccountOptions): AccountOptions {
  ui.server.value = account.server;
  ui.aor.value = account.aor;
  ui.authUser.value = account.authUser ?? '';
  ui.password.value = account.password ?? '';
  ui.displayName.value = account.displayName ?? '';
  ui.stun.value = account.stun ?? '';
  return account;
}

ui.server.value = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host || 'localhost:7443'}`;

// A gateway that is its own registrar (npm start on the defaults) says so: offer a user on its domain.
void fetch('gateway.json', { cache: 'no-store' })
  .then(async (res) => (res.ok ? readGatewayInfo(await res.json()) : undefined))
  .then((info) => {
    const defaults = accountDefaults(info);
    if (defaults === undefined) return;
    if (ui.aor.value === '') ui.aor.value = defaults.aor;
    ui.hint.textContent = defaults.hint;
    ui.hint.hidden = false;
  })
  .catch(() => undefined);

ui.accountForm.addEventListener('submit', (event) => {
  event.preventDefault();
  fromClick(() => actions.register(readAccount()));
});
ui.unregister.addEventListener('click', () => fromClick(actions.unregister));
ui.dialForm.addEventListener('submit', (event) => {
  event.preventDefault();
  fromClick(() => actions.call(ui.destination.value));
});
ui.answer.addEventListener('click', () => fromClick(actions.answer));
ui.decline.addEventListener('click', () => fromClick(actions.decline));
ui.hangup.addEventListener('click', () => fromClick(actions.hangup));
ui.mute.addEventListener('click', () => fromClick(() => actions.mute(!view.call?.muted)));
ui.hold.addEventListener('click', () => fromClick(() => actions.hold(!view.call?.held)));

// During a call the pad sends DTMF; otherwise it types into the destination.
function pressTone(tone: string): void {
  if (view.call?.answered) {
    fromClick(() => actions.dtmf(tone));
  } else {
    ui.destination.value += tone;
  }
}

ui.dialPad.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button') : null;
  const tone = button?.dataset['tone'];
  if (tone !== undefined) pressTone(tone);
});

// Digit keys work while focus is on the pad, like a hardware keypad.
ui.dialPad.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || !/^[0-9*#]$/.test(event.key)) return;
  event.preventDefault();
  ui.dialPad.querySelector<HTMLButtonElement>(`button[data-tone="${event.key}"]`)?.focus();
  pressTone(event.key);
});

window.addEventListener('pagehide', () => void phone.close());

function renderView(next: PhoneView, previous: PhoneView): void {
  ui.status.textContent = next.status;
  ui.status.dataset['state'] = next.state;
  const call = next.call;
  const ringingIn = call !== undefined && call.direction === 'in' && !call.answered;
  ui.register.disabled = next.state === 'connecting';
  ui.accountSummary.textContent = next.registered ? ui.aor.value : 'not registered';
  // Fold only on the change, so the user can still open it while registered.
  if (next.registered !== previous.registered) ui.accountDetails.open = !next.registered;
  ui.unregister.disabled = !next.connected;
  ui.call.disabled = !next.registered || call !== undefined;
  ui.hangup.disabled = call === undefined;
  ui.mute.disabled = ui.hold.disabled = !call?.answered;
  setToggle(ui.mute, call?.muted ?? false, 'Mute', 'Unmute');
  setToggle(ui.hold, call?.held ?? false, 'Hold', 'Resume');
  ui.incoming.hidden = !ringingIn;
  if (ringingIn) ui.incomingCaller.textContent = `Incoming call from ${call.peer}`;
  if (call === undefined) ui.dtmfSent.value = '';
}

function setToggle(button: HTMLButtonElement, pressed: boolean, off: string, on: string): void {
  button.setAttribute('aria-pressed', String(pressed));
  button.textContent = pressed ? on : off;
}

function renderQuality(quality: CallQuality): void {
  ui.qIn.textContent = String(quality.inboundPackets);
  ui.qOut.textContent = String(quality.outboundPackets);
  ui.qLost.textContent = `${quality.lost} (${lossPercent(quality).toFixed(1)} %)`;
  ui.qJitter.textContent = `${(quality.jitter * 1000).toFixed(1)} ms`;
  ui.qLevel.value = quality.audioLevel;
  ui.qLevel.textContent = quality.audioLevel.toFixed(2);
  ui.qEnergy.textContent = quality.audioEnergy.toFixed(4);
}

function addLogEntry(entry: CallLogEntry): void {
  const item = document.createElement('li');
  const arrow = entry.direction === 'out' ? 'Outgoing' : 'Incoming';
  const time = entry.startedAt.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const talked = entry.answeredAt ? `, ${formatDuration(entry.endedAt.getTime() - entry.answeredAt.getTime())}` : '';
  item.textContent = `${time} ${arrow} ${entry.peer}${talked}: ${entry.outcome}`;
  ui.log.prepend(item);
  while (ui.log.children.length > MAX_LOG_ENTRIES) ui.log.lastElementChild?.remove();
  ui.logEmpty.hidden = true;
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}
