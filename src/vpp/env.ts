// Where the VPP API socket and VPP's JSON API files are, from the environment.
//
//   VPP_API_SOCKET_PATH  full path of VPP's binary API socket; wins when set
//   VPP_SOCKET_DIR       directory holding api.sock (default /run/vpp), as wireguard-go-vpp names it
//   VPP_API_DIR          VPP's JSON API descriptions (default /usr/share/vpp/api)

import * as path from 'node:path';

export const DEFAULT_VPP_SOCKET_DIR = '/run/vpp';
export const VPP_API_SOCKET_NAME = 'api.sock';
export const DEFAULT_VPP_API_DIR = '/usr/share/vpp/api';

type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== '' ? v : undefined;
}

/** The API socket to connect to: VPP_API_SOCKET_PATH, else $VPP_SOCKET_DIR/api.sock. */
export function resolveVppApiSocketPath(env: Env = process.env): string {
  const full = nonEmpty(env['VPP_API_SOCKET_PATH']);
  if (full) return full;
  return path.join(nonEmpty(env['VPP_SOCKET_DIR']) ?? DEFAULT_VPP_SOCKET_DIR, VPP_API_SOCKET_NAME);
}

/** Where VPP's own *.api.json files may be installed. */
export function resolveVppApiDir(env: Env = process.env): string {
  return nonEmpty(env['VPP_API_DIR']) ?? DEFAULT_VPP_API_DIR;
}
