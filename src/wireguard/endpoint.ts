// An outer (UDP) address of a peer. Kept as plain values so endpoints compare and print
// cheaply and any bind (UDP, later VSOCK) can carry them.

export interface Endpoint {
  /** 4 or 6 for UDP. */
  readonly family: 4 | 6;
  /** Textual address without brackets: "192.0.2.1" or "2001:db8::1". */
  readonly address: string;
  readonly port: number;
}

export function endpointEquals(a: Endpoint | null, b: Endpoint | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  return a.port === b.port && a.family === b.family && a.address === b.address;
}

/** "a.b.c.d:port" or "[v6]:port", as wg(8) prints and parses them. */
export function formatEndpoint(e: Endpoint): string {
  return e.family === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
