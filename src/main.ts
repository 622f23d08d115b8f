#!/usr/bin/env node
/**
 * CLI: argv → config → server.start(); SIGTERM/SIGINT → drain → exit 0;
 * SIGHUP → reopen the call records file (log rotation), then reload the config.
 *   webrtc-sbc [--config FILE] [--set key.path=value ...]
 *   webrtc-sbc check-config FILE [--set ...]
 *   webrtc-sbc status|flows|dialogs|backends|engines|reload [--admin URL] [--token T]
 * Exit codes: 0 clean stop, 2 configuration error, 1 any other fatal error.
 */
import { parseArgs } from 'node:util';
import { gatewayWorkerId, Supervisor, WorkerLink, workerConfig, workerCount } from './cluster/index.js';
import { loadConfig, formatConfigError, renderConfig } from './config/index.js';
import { runAdminCommand, type AdminCommandName as AdminCommand } from './admin/index.js';
import { SbcError } from './errors.js';
import { createLogger } from './log/logger.js';
import { loadRoutingLogic } from './routing/routing-logic.js';
import { Server } from './server.js';
import { reusePortAddon } from './transport/index.js';
import { listenerCertificate, listenerSpecs } from './transport/transport-part.js';

const ADMIN_COMMANDS: readonly AdminCommand[] = ['status', 'flows', 'dialogs', 'backends', 'engines', 'reload'];

const USAGE = `usage:
  webrtc-sbc [--config FILE] [--set key.path=value ...]     run the gateway
  webrtc-sbc check-config FILE [--set key.path=value ...]   validate and print the effective configuration
  webrtc-sbc ${ADMIN_COMMANDS.join('|')} [--admin URL] [--token TOKEN]
`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        set: { type: 'string', multiple: true, short: 's' },
        admin: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const command = positionals[0];

  if (command !== undefined && (ADMIN_COMMANDS as readonly string[]).includes(command)) {
    let adminUrl = values.admin;
    let token = values.token;
    if (adminUrl === undefined || token === undefined) {
      // Default to the configured admin listener (CONTRACT.md).
      const loaded = await loadConfig({ file: values.config, sets: values.set ?? [], env: process.env, cwd: process.cwd() });
      if (loaded.ok) {
        const listen = loaded.value.config.admin.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
        adminUrl ??= `http://${listen}`;
        token ??= loaded.value.config.admin.token || undefined;
      }
      adminUrl ??= 'http://127.0.0.1:9060';
    }
    return runAdminCommand(command as AdminCommand, { adminUrl, token, out: process.stdout, err: process.stderr });
  }

  if (command === 'check-config') {
    const file = positionals[1] ?? values.config;
    if (file === undefined) {
      process.stderr.write(`check-config needs a FILE\n${USAGE}`);
      return 2;
    }
    const loaded = await loadConfig({ file, sets: values.set ?? [], env: process.env, cwd: process.cwd() });
    if (!loaded.ok) {
      process.stderr.write(`${formatConfigError(loaded.error)}\n`);
      return 2;
    }
    // The routing script is loaded too: a module that does not import or export no route() fails here, not at start.
    const logic = await loadRoutingLogic(loaded.value.config);
    if (!logic.ok) {
      process.stderr.write(`config error: ${logic.key}: ${logic.error}\n`);
      return 2;
    }
    process.stdout.write(renderConfig(loaded.value.config));
    return 0;
  }

  if (command !== undefined) {
    process.stderr.write(`unknown command: ${command}\n${USAGE}`);
    return 2;
  }

  const loaded = await loadConfig({ file: values.config, sets: values.set ?? [], env: process.env, cwd: process.cwd() });
  if (!loaded.ok) {
    process.stderr.write(`${formatConfigError(loaded.error)}\n`);
    return 2;
  }
  const workerId = gatewayWorkerId();
  const source = loaded.value.source;
  const config = workerId === undefined ? loaded.value.config : workerConfig(loaded.value.config, workerId, workerCount(loaded.value.config.workers));
  const logger = workerId === undefined ? createLogger(config.log.level) : createLogger(config.log.level).child({ worker: workerId });
  if (workerId === undefined) {
    const count = workerCount(config.workers);
    if (count > 1) {
      const addon = reusePortAddon();
      if (addon.ok || !config.listen.some((l) => l.transport === 'udp')) {
        // Made once here: N workers would race to generate and write the same self-signed files.
        await listenerCertificate(listenerSpecs(config), config, logger);
        return new Supervisor({ count, config, logger }).run();
      }
      // Without SO_REUSEPORT the workers could not keep a client's datagrams on one of them.
      logger.error({ workers: config.workers, reason: addon.reason }, `workers: ${config.workers} needs the SO_REUSEPORT addon, which did not load; running one worker`);
    }
  }
  const link = workerId === undefined ? undefined : new WorkerLink(workerId);
  const reloadConfig = async () => {
    const again = await loadConfig({ file: values.config, sets: values.set ?? [], env: process.env, cwd: process.cwd() });
    if (!again.ok || workerId === undefined) return again;
    return { ...again, value: { ...again.value, config: workerConfig(again.value.config, workerId, workerCount(again.value.config.workers)) } };
  };
  const server = new Server(config, logger, { configSource: source, reloadConfig, ...(link !== undefined ? { worker: link } : {}) });
  try {
    await server.start();
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    await server.stop().catch(() => undefined);
    // A configuration problem only found at start-up (a users file with a bad line) is still exit 2, named on stderr.
    if (err instanceof SbcError && err.code === 'SBC_ERR_CONFIG_KEY') {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    return 1;
  }
  link?.onSteered((d) => server.transport.receiveSteered(d));
  link?.onSiblings((own) => server.trustSiblings(own));
  link?.ready(server.ownPorts());

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signal === 'SIGHUP') {
        // Log rotation first: the records file is reopened even when the new config is refused.
        server.reopenFiles();
        void server.reload().then(
          (reply) => logger.info({ signal, status: reply.status, body: reply.body }, 'reload on signal'),
          (err: unknown) => logger.error({ err, signal }, 'reload on signal failed'),
        );
        return;
      }
      if (stopping) {
        // At once: no more waiting for calls; the exit below does not wait for stop() either.
        logger.warn({ signal }, 'second signal: stopping now');
        void server.stop().catch(() => undefined);
        resolve(0);
        return;
      }
      stopping = true;
      logger.info({ signal, drainSeconds: config.shutdown.drainSeconds }, 'draining');
      void server.drainAndStop().then(() => resolve(0), (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        resolve(1);
      });
    };
    if (link === undefined) {
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      process.on('SIGHUP', onSignal);
    } else {
      // Ctrl-C, systemd and `kill -- -PGID` signal the workers as well as the supervisor, which forwards
      // the signal too: a signal of its own only starts the drain, and only the supervisor's second one
      // (the operator's second signal) stops at once.
      let forwarded = 0;
      const direct = (signal: NodeJS.Signals): void => {
        if (!stopping || signal === 'SIGHUP') onSignal(signal);
      };
      process.on('SIGTERM', direct);
      process.on('SIGINT', direct);
      process.on('SIGHUP', direct);
      link.onSignal((signal) => {
        if (signal === 'SIGHUP') return onSignal(signal);
        forwarded += 1;
        if (!stopping || forwarded > 1) onSignal(signal);
      });
      // The supervisor is gone (killed): drain and leave rather than run unsupervised.
      process.on('disconnect', () => direct('SIGTERM'));
    }
  });
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; setTimeout(() => process.exit(code), 200).unref(); },
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
