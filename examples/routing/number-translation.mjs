// Number translation: what phones dial becomes E.164 before it reaches the carrier.
//   00 49 30 123  → +4930123        (international access code)
//   030 123       → +4930123        (national trunk prefix, country code 49)
//   *1 … *9       → a speed dial
//   +…            → kept
// Anything else that is all digits is refused (484 Address Incomplete);
// names (alice, bob) are left to the usual routing.
//
// routing: { script: examples/routing/number-translation.mjs }
// backends: { carrier: { targets: [...] }, default: { targets: [...] } }

const COUNTRY = '49';
const SPEED_DIALS = { '*1': '+4930123456', '*2': '+4940987654' };

/** @type {import('webrtc-sbc').RouteFunction} */
export default function route(request) {
  const dialed = request.ruri.user;
  if (dialed === undefined) return undefined;
  const e164 = toE164(dialed.replace(/[-.() ]/g, ''));
  if (e164 === undefined) return /^[0-9*#]+$/.test(dialed) ? { reply: { status: 484, reason: 'Address Incomplete' } } : undefined;
  return { relay: { group: 'carrier', ruriUser: e164 } };
}

/** @param {string} n */
export function toE164(n) {
  if (Object.hasOwn(SPEED_DIALS, n)) return SPEED_DIALS[/** @type {keyof typeof SPEED_DIALS} */ (n)];
  if (/^\+[1-9]\d{6,14}$/.test(n)) return n;
  if (/^00[1-9]\d{6,14}$/.test(n)) return `+${n.slice(2)}`;
  if (/^0[1-9]\d{4,13}$/.test(n)) return `+${COUNTRY}${n.slice(1)}`;
  return undefined;
}
