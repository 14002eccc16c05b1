// The WireGuard half both programs start the same way, whatever the packet device: the UDP
// bind, the device on top of it, and the UAPI socket wg(8) talks to. Each step registers
// its undo with the lifecycle.
import { UdpBind } from '../bind/udp.js';
import { UapiServer } from '../ipc/uapi-server.js';
import { Device } from '../wireguard/device.js';
import type { Logger } from '../wireguard/log.js';
import type { PacketDevice } from '../wireguard/packetdevice.js';
import type { Lifecycle } from './lifecycle.js';

/** The bind and the device on `tun`, up (listening on a random port until wg sets one). */
export async function startDevice(tun: PacketDevice, logger: Logger, life: Lifecycle): Promise<{ device: Device; bind: UdpBind }> {
  const bind = new UdpBind({ logger });
  life.defer('close UDP bind', () => bind.close());
  const device = new Device({ tun, bind, logger });
  life.defer('close device', () => device.close());
  await device.up();
  return { device, bind };
}

/**
 * The UAPI socket /var/run/wireguard/<name>.sock. Start it last: it is registered last, so
 * it goes first at shutdown, and wg(8) stops finding us before anything else goes. Its
 * removal shuts the service down.
 */
export async function serveUapi(name: string, device: Device, logger: Logger, life: Lifecycle): Promise<UapiServer> {
  const uapi = await UapiServer.listen(name, device, { logger });
  life.defer('remove UAPI socket', () => uapi.close());
  uapi.onRemoved(() => life.shutdown('UAPI socket removed'));
  return uapi;
}
