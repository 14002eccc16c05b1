// Log lines in wireguard-go's shape, `LEVEL: (wg0) 2026/11/23 15:00:00 message`, written
// to stdout, filtered by LOG_LEVEL (silent | error | verbose | debug; default error, as
// wireguard-go). Tags: ERROR, INFO for verbose and DEBUG for debug (wireguard-go has only
// two levels and tags its verbose lines DEBUG; we keep the third apart).
import type { Logger } from '../wireguard/log.js';

export type LogLevel = 'silent' | 'error' | 'verbose' | 'debug';

const RANK: Record<LogLevel, number> = { silent: 0, error: 1, verbose: 2, debug: 3 };

/** LOG_LEVEL's value; anything unrecognised (or unset) means error, as in wireguard-go. */
export function parseLogLevel(value: string | undefined): LogLevel {
  switch ((value ?? '').trim().toLowerCase()) {
    case 'silent':
      return 'silent';
    case 'verbose':
      return 'verbose';
    case 'debug':
      return 'debug';
    default:
      return 'error';
  }
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Go's log.Ldate|log.Ltime in local time: "2006/01/02 15:04:05". */
export function formatTimestamp(d: Date): string {
  return (
    `${d.getFullYear()}/${pad2(d.getMonth() + 1)}/${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  );
}

export function formatLogLine(tag: string, interfaceName: string, when: Date, message: string): string {
  return `${tag}: (${interfaceName}) ${formatTimestamp(when)} ${message}\n`;
}

/** A Logger writing lines at or above `level` through `write` (default: stdout). */
export function createLogger(
  level: LogLevel,
  interfaceName: string,
  write: (line: string) => void = (line) => {
    process.stdout.write(line);
  },
): Logger & { readonly level: LogLevel } {
  const rank = RANK[level];
  const emit = (tag: string, message: string): void => write(formatLogLine(tag, interfaceName, new Date(), message));
  const off = (): void => {};
  return {
    level,
    error: rank >= RANK.error ? (m) => emit('ERROR', m) : off,
    verbose: rank >= RANK.verbose ? (m) => emit('INFO', m) : off,
    debug: rank >= RANK.debug ? (m) => emit('DEBUG', m) : off,
  };
}
