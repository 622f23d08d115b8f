// Per-tenant groups: several customers share the gateway, each with its own
// PBX group. The tenant is the domain of the routes: entry the Request-URI
// host matched (request.tenant), so routes: lists the tenants' domains:
//
// routes:
//   - { domain: acme.example, backend: acme }
//   - { domain: globex.example, backend: globex }
// backends: { acme: {...}, globex: {...}, carrier: {...} }
// routing: { script: examples/routing/per-tenant.mjs }
//
// Numbers (a + or a digit) leave through the shared carrier, marked with the
// tenant so the carrier bills the right account; names stay in the tenant's
// PBX group; an unknown domain is refused.

const TENANTS = {
  'acme.example': { group: 'acme', account: 'A-1001' },
  'globex.example': { group: 'globex', account: 'G-2002' },
};

/** @type {import('webrtc-sbc').RouteFunction} */
export default function route(request) {
  const tenant = request.tenant === undefined ? undefined : TENANTS[/** @type {keyof typeof TENANTS} */ (request.tenant)];
  if (tenant === undefined) return { reply: { status: 403, reason: 'Unknown Tenant' } };
  const user = request.ruri.user ?? '';
  if (/^\+?\d+$/.test(user)) return { relay: { group: 'carrier', setHeaders: { 'X-Account': tenant.account } } };
  return { relay: { group: tenant.group } };
}
