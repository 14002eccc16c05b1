// The VPP module's public surface: the binary API client and the memif lifecycle in VPP.

export { VppLifecycle } from './lifecycle.js';
export type { InterfaceEventInfo, MemifRole, ReconnectOptions, VppLifecycleEvents, VppLifecycleOptions } from './lifecycle.js';
export { VppClient } from './client.js';
export type { ClientStats, RequestOptions, VppClientOptions } from './client.js';
export { builtinRegistry, loadRegistry } from './api-loader.js';
export { ApiRegistry, parseApiFile } from './definitions.js';
export { codecFor, MessageCodec } from './codec.js';
export type { ApiInput, ApiRecord, ApiValue } from './codec.js';
export { DEFAULT_VPP_API_DIR, DEFAULT_VPP_SOCKET_DIR, resolveVppApiDir, resolveVppApiSocketPath } from './env.js';
export {
  VppApiError,
  VppConnectError,
  VppDecodeError,
  VppDefinitionError,
  VppDisconnectedError,
  VppEncodeError,
  VppError,
  VppMessageUnavailableError,
  VppProtocolError,
  VppTimeoutError,
  describeRetval,
  vppErrorName,
} from './errors.js';
export { formatMac, parseMac } from './mac.js';
