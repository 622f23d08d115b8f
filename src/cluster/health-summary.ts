/**
 * The gateway-wide part of `GET /healthz` under a supervisor: what one
 * process reports about itself (the registrar's mode and the bindings it
 * holds) made whole from every worker's answer, so `webrtc-sbc status`
 * reads the same with `workers` as without.
 */

export interface RegistrarSummary {
  mode: string;
  registrations: number;
}

/**
 * The registrar summary of the gateway from the workers' /healthz bodies:
 * the mode they share and the bindings each holds, summed (a binding is
 * held by the one worker its REGISTER reached). Undefined when no worker
 * reported one.
 */
export function gatewayRegistrarSummary(bodies: readonly unknown[]): RegistrarSummary | undefined {
  let out: RegistrarSummary | undefined;
  for (const body of bodies) {
    const r = isRecord(body) ? body.registrar : undefined;
    if (!isRecord(r) || typeof r.mode !== 'string') continue;
    const held = typeof r.registrations === 'number' && Number.isFinite(r.registrations) ? r.registrations : 0;
    out = out === undefined ? { mode: r.mode, registrations: held } : { mode: out.mode, registrations: out.registrations + held };
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
