// Command-line arguments with wireguard-go's conventions: `PROGRAM [-f|--foreground]
// INTERFACE-NAME`, `--version`, plus `-h|--help`. Shared by wireguard-ts and
// wireguard-ts-vpp.

export type ParsedArgs =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; foreground: boolean; interfaceName: string }
  | { kind: 'error'; message: string };

/** Linux IFNAMSIZ is 16 including the terminating NUL. */
export const MAX_INTERFACE_NAME = 15;

/**
 * Why `name` cannot be a Linux interface name (and so neither the UAPI socket's file
 * name), or null when it can. The kernel refuses "", ".", "..", '/', ':' and whitespace;
 * a '%d' pattern would make the kernel pick the name and is not supported either.
 */
export function interfaceNameProblem(name: string): string | null {
  if (name.length === 0) return 'interface name is empty';
  if (name.length > MAX_INTERFACE_NAME) return `interface name "${name}" is longer than ${MAX_INTERFACE_NAME} characters`;
  if (name === '.' || name === '..') return `invalid interface name "${name}"`;
  if (/[\s/:%\0]/.test(name)) return `invalid interface name "${name}": no whitespace, '/', ':' or '%' allowed`;
  if (name.startsWith('-')) return `invalid interface name "${name}"`;
  return null;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) return { kind: 'help' };
  if (argv.length === 1 && argv[0] === '--version') return { kind: 'version' };
  let foreground = false;
  let rest = argv;
  if (rest.length === 2 && (rest[0] === '-f' || rest[0] === '--foreground')) {
    foreground = true;
    rest = rest.slice(1);
  }
  if (rest.length !== 1) return { kind: 'error', message: 'expected one interface name' };
  const problem = interfaceNameProblem(rest[0]);
  if (problem !== null) return { kind: 'error', message: problem };
  return { kind: 'run', foreground, interfaceName: rest[0] };
}

export function usage(program: string): string {
  return `Usage: ${program} [-f/--foreground] INTERFACE-NAME\n`;
}
