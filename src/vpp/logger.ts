// The logging interface of the VPP module: the same shape as the core's Logger (error,
// verbose, debug), declared here so vpp/ does not reach into wireguard/. Never hand a
// secret to it: nothing in vpp/ logs field values, only message names and indexes.

export interface VppLogger {
  error(msg: string): void;
  verbose(msg: string): void;
  debug(msg: string): void;
}

export const silentVppLogger: VppLogger = {
  error: () => {},
  verbose: () => {},
  debug: () => {},
};
