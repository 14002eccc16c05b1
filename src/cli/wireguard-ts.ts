#!/usr/bin/env node
// wireguard-ts: the wireguard-go workflow on the TypeScript core.
//
//   wireguard-ts [-f|--foreground] wg0
//
// creates TUN interface wg0, opens the UAPI socket /var/run/wireguard/wg0.sock for wg(8),
// and goes to the background once both are ready (unless -f or WG_PROCESS_FOREGROUND=1).
// It exits, cleaning up, on SIGINT/SIGTERM, when the UAPI socket is removed, or when the
// interface is deleted (`ip link del wg0`).
import { KernelTun } from '../tun/kernel-tun.js';
import type { Logger } from '../wireguard/log.js';
import { serveUapi, startDevice } from './device-service.js';
import type { Lifecycle } from './lifecycle.js';
import { COMMON_ENV_HELP, runProgramAndExit } from './program.js';

/** wireguard-go's default MTU. */
const DEFAULT_MTU = 1420;

const HELP = `
Creates TUN interface INTERFACE-NAME and serves the WireGuard userspace API on
/var/run/wireguard/INTERFACE-NAME.sock; configure it with wg(8) and ip(8).
Goes to the background once ready unless -f/--foreground is given.

Stop it with \`ip link del INTERFACE-NAME\`, by removing the socket, or with SIGTERM.

Environment:
${COMMON_ENV_HELP}`;

/** Creates the interface, the bind, the device and the UAPI socket, in that order. */
async function startService(interfaceName: string, _prepared: undefined, logger: Logger, life: Lifecycle): Promise<void> {
  const tun = KernelTun.open(interfaceName, DEFAULT_MTU);
  life.defer('close TUN', () => tun.close());
  const { device, bind } = await startDevice(tun, logger, life);
  await serveUapi(tun.name, device, logger, life);
  tun.onClose(() => life.shutdown(`interface ${tun.name} deleted`));
  logger.verbose(`Device started on ${tun.name}, UDP port ${bind.port}`);
}

await runProgramAndExit({ name: 'wireguard-ts', help: HELP, start: startService });
