/**
 * Checks that span several keys. They run after every key parsed on its own,
 * and each issue's path names the key the user has to change.
 */

/** The parts of a parsed config the cross-field checks read. */
interface CrossCheckView {
  listen: ReadonlyArray<{ transport: string; address: string; port: number }>;
  backends: Readonly<Record<string, unknown>>;
  routes: ReadonlyArray<{ backend?: string | undefined; action?: { group?: string | undefined } | undefined }>;
  registrar: { backend: string; mode?: string | undefined; minExpires: number; maxExpires: number };
  mode: string;
  media: { mode: string; rtpengine: { engines: readonly unknown[] } };
  state: { redis: { sentinels?: unknown; cluster?: unknown } };
  security: { auth: { mode: string; usersFile?: string | undefined } };
  timers: { t1Ms: number; t2Ms: number };
  workers: number | 'auto';
}

interface IssueSink {
  addIssue(issue: { code: 'custom'; message: string; path: PropertyKey[] }): void;
}

/** Add one issue per cross-field problem found in `config`. */
export function checkCrossFields(config: CrossCheckView, ctx: IssueSink): void {
  const issue = (path: PropertyKey[], message: string): void => ctx.addIssue({ code: 'custom', message, path });

  checkListeners(config.listen, issue);
  if (config.workers !== 1) {
    // Every worker binds its own SO_REUSEPORT socket: port 0 would give each worker a different port.
    config.listen.forEach((l, i) => {
      if (l.transport === 'udp' && l.port === 0) issue(['listen', i, 'port'], 'a UDP listener needs a fixed port when workers is not 1');
    });
  }

  // No backend configured is a supported start-up state (every request gets 503),
  // so names are only checked against groups that exist.
  const groups = Object.keys(config.backends);
  if (groups.length > 0) {
    const known = new Set(groups);
    if (!known.has(config.registrar.backend)) {
      issue(['registrar', 'backend'], `no backend group "${config.registrar.backend}" (groups: ${groups.join(', ')})`);
    }
    config.routes.forEach((route, i) => {
      if (route.backend !== undefined && !known.has(route.backend)) issue(['routes', i, 'backend'], `no backend group "${route.backend}" (groups: ${groups.join(', ')})`);
      const group = route.action?.group;
      if (group !== undefined && !known.has(group)) issue(['routes', i, 'action', 'group'], `no backend group "${group}" (groups: ${groups.join(', ')})`);
    });
  }

  if (config.registrar.mode === 'local' && config.mode === 'b2bua') {
    issue(['registrar', 'mode'], 'local is not supported with mode: b2bua (the B2BUA sends every call to a backend); use mode: proxy or registrar.mode: path');
  }
  if (config.registrar.maxExpires < config.registrar.minExpires) {
    issue(['registrar', 'maxExpires'], `must not be less than registrar.minExpires (${config.registrar.minExpires})`);
  }
  if (config.media.mode === 'rtpengine' && config.media.rtpengine.engines.length === 0) {
    issue(['media', 'rtpengine', 'engines'], 'no engine listed while media.mode is rtpengine: set media.rtpengine.engines or media.mode=embedded');
  }
  if (config.security.auth.mode === 'local' && config.security.auth.usersFile === undefined) {
    issue(['security', 'auth', 'usersFile'], 'required when security.auth.mode is local');
  }
  if (config.state.redis.sentinels !== undefined && config.state.redis.cluster !== undefined) {
    issue(['state', 'redis', 'cluster'], 'set either state.redis.sentinels or state.redis.cluster, not both');
  }
  if (config.timers.t2Ms < config.timers.t1Ms) {
    issue(['timers', 't2Ms'], `must not be less than timers.t1Ms (${config.timers.t1Ms})`);
  }
}

function checkListeners(listen: CrossCheckView['listen'], issue: (path: PropertyKey[], message: string) => void): void {
  if (listen.length === 0) {
    issue(['listen'], 'at least one listener is required');
    return;
  }
  // tcp, tls, ws and wss all bind a TCP socket, so they cannot share an address and port.
  const taken = new Map<string, number>();
  listen.forEach((l, i) => {
    if (l.port === 0) return;
    const socketKind = l.transport === 'udp' ? 'udp' : 'tcp';
    const key = `${socketKind} ${l.address} ${l.port}`;
    const first = taken.get(key);
    if (first === undefined) {
      taken.set(key, i);
      return;
    }
    const other = listen[first];
    issue(['listen', i, 'port'], `${l.address}:${l.port} is already used by listen[${first}] (${other?.transport ?? '?'})`);
  });
}
