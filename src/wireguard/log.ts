// Logging levels as wireguard-go names them. The core logs through this interface only;
// the CLI decides where lines go. Never pass key material to a logger.

export interface Logger {
  error(msg: string): void;
  verbose(msg: string): void;
  debug(msg: string): void;
}

export const silentLogger: Logger = {
  error: () => {},
  verbose: () => {},
  debug: () => {},
};
