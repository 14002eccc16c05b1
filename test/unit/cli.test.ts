// The CLI helpers: argument parsing, wireguard-go-style log lines and levels, the
// shutdown sequence, and the daemon's ready report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { interfaceNameProblem, parseArgs } from '../../src/cli/args.js';
import { READY_FD_ENV, takeReadyReporter, wantsForeground } from '../../src/cli/daemon.js';
import { createLifecycle } from '../../src/cli/lifecycle.js';
import { createLogger, formatLogLine, parseLogLevel } from '../../src/cli/logger.js';
import { silentLogger } from '../../src/wireguard/log.js';

test('arguments follow wireguard-go: [-f|--foreground] NAME, --version, plus --help', () => {
  assert.deepEqual(parseArgs(['wg0']), { kind: 'run', foreground: false, interfaceName: 'wg0' });
  assert.deepEqual(parseArgs(['-f', 'wg0']), { kind: 'run', foreground: true, interfaceName: 'wg0' });
  assert.deepEqual(parseArgs(['--foreground', 'wg0']), { kind: 'run', foreground: true, interfaceName: 'wg0' });
  assert.deepEqual(parseArgs(['--version']), { kind: 'version' });
  assert.deepEqual(parseArgs(['--help']), { kind: 'help' });
  assert.deepEqual(parseArgs(['-h']), { kind: 'help' });
  for (const bad of [[], ['-f'], ['wg0', 'wg1'], ['-x', 'wg0'], ['wg0', '-f'], ['-f', '-f', 'wg0']]) {
    assert.equal(parseArgs(bad).kind, 'error', JSON.stringify(bad));
  }
});

test('interface names the kernel would refuse are refused up front', () => {
  for (const ok of ['wg0', 'a', 'x'.repeat(15), 'wg-ts_1.2']) assert.equal(interfaceNameProblem(ok), null, ok);
  for (const bad of ['', '.', '..', 'x'.repeat(16), 'a/b', 'a b', 'a:b', 'wg%d', '-f', 'a\nb']) {
    assert.notEqual(interfaceNameProblem(bad), null, JSON.stringify(bad));
  }
});

test('foreground by flag or WG_PROCESS_FOREGROUND=1', () => {
  assert.equal(wantsForeground(true, {}), true);
  assert.equal(wantsForeground(false, { WG_PROCESS_FOREGROUND: '1' }), true);
  assert.equal(wantsForeground(false, { WG_PROCESS_FOREGROUND: '0' }), false);
  assert.equal(wantsForeground(false, {}), false);
});

test('log lines look like wireguard-go and LOG_LEVEL filters them', () => {
  const when = new Date(2026, 10, 23, 15, 0, 7);
  assert.equal(formatLogLine('DEBUG', 'wg0', when, 'hello'), 'DEBUG: (wg0) 2026/11/23 15:00:07 hello\n');
  assert.equal(parseLogLevel(undefined), 'error');
  assert.equal(parseLogLevel('DEBUG'), 'debug');
  assert.equal(parseLogLevel('verbose'), 'verbose');
  assert.equal(parseLogLevel('silent'), 'silent');
  assert.equal(parseLogLevel('nonsense'), 'error');

  const seen = (level: 'silent' | 'error' | 'verbose' | 'debug'): string[] => {
    const lines: string[] = [];
    const log = createLogger(level, 'wg9', (l) => lines.push(l));
    log.error('e');
    log.verbose('v');
    log.debug('d');
    return lines.map((l) => l.split(':')[0] + l.slice(l.lastIndexOf(' ')));
  };
  assert.deepEqual(seen('silent'), []);
  assert.deepEqual(seen('error'), ['ERROR e\n']);
  assert.deepEqual(seen('verbose'), ['ERROR e\n', 'INFO v\n']);
  assert.deepEqual(seen('debug'), ['ERROR e\n', 'INFO v\n', 'DEBUG d\n']);
});

test('shutdown runs cleanup steps newest first, once, and keeps going past a failing step', async () => {
  const order: string[] = [];
  const errors: string[] = [];
  const life = createLifecycle({ ...silentLogger, error: (m) => errors.push(m) }, { signals: [] });
  life.defer('first', () => {
    order.push('first');
  });
  life.defer('second', async () => {
    order.push('second');
    throw new Error('boom');
  });
  life.defer('third', () => {
    order.push('third');
  });
  life.shutdown('test', 3);
  life.shutdown('again', 0);
  assert.equal(await life.done, 3);
  assert.deepEqual(order, ['third', 'second', 'first']);
  assert.equal(errors.length, 1);
  // Something created after shutdown began is undone at once.
  life.defer('late', () => {
    order.push('late');
  });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order.at(-1), 'late');
});

test('a signal triggers the shutdown with exit code 0', async () => {
  const life = createLifecycle(silentLogger, { signals: ['SIGUSR2'] });
  let cleaned = false;
  life.defer('x', () => {
    cleaned = true;
  });
  // Signal listeners do not keep the event loop alive; this timer does until it arrives.
  const keepAlive = setTimeout(() => {}, 5000);
  process.kill(process.pid, 'SIGUSR2');
  assert.equal(await life.done, 0);
  clearTimeout(keepAlive);
  assert.ok(cleaned);
});

test('cleanup that hangs is abandoned after the timeout', async () => {
  const life = createLifecycle(silentLogger, { signals: [], cleanupTimeoutMs: 50 });
  life.defer('hangs', () => new Promise<void>(() => {}));
  life.shutdown('test', 0);
  assert.equal(await life.done, 0);
});

test('the daemon reports ready or its error once on the pipe, then closes it', async () => {
  // A child process takes the reporter from its environment and reports on fd 3.
  const script = `
    import { takeReadyReporter } from ${JSON.stringify(new URL('../../src/cli/daemon.js', import.meta.url).href)};
    const r = takeReadyReporter();
    if (process.env.${READY_FD_ENV} !== undefined) process.exit(2);
    r[process.argv[1]]('first\\nline');
    r.ready();
  `;
  for (const how of ['ready', 'fail']) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, how], {
      stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
      env: { ...process.env, [READY_FD_ENV]: '3' },
    });
    let text = '';
    child.stdio[3]?.on('data', (d: Buffer) => (text += d.toString()));
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 0);
    assert.equal(text, how === 'ready' ? 'ready\n' : 'error first line\n');
  }
  assert.equal(takeReadyReporter({}), null);
});
