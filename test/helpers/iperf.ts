// One iperf3 TCP measurement between two namespaces: a one-shot server, a client run of a
// few seconds, the received byte count and rate from iperf3's JSON report.
import assert from 'node:assert/strict';
import { waitFor } from './exec.js';
import type { Harness, Netns } from './netns.js';

export interface IperfOptions {
  /** The server sends and the client receives (iperf3 -R). Default false. */
  reverse?: boolean;
  seconds?: number;
  port?: number;
}

export interface IperfResult {
  bytes: number;
  bitsPerSecond: number;
}

interface IperfReport {
  error?: string;
  end?: { sum_received?: { bytes: number; bits_per_second: number } };
}

/** Runs iperf3 from `client` to a server on `serverAddr` in `server`; rejects unless data moved. */
export async function iperf3(h: Harness, server: Netns, serverAddr: string, client: Netns, opts: IperfOptions = {}): Promise<IperfResult> {
  const port = opts.port ?? 5201;
  const listening = serverAddr.includes(':') ? `[${serverAddr}]:${port}` : `${serverAddr}:${port}`;
  const proc = h.spawnIn(server, 'iperf3 -s', 'iperf3', ['-s', '-1', '-B', serverAddr, '-p', String(port)]);
  await waitFor('iperf3 server to listen', async () => (await server.runOk('ss', ['-Hltn', `sport = :${port}`])).includes(listening));
  const args = ['-c', serverAddr, '-p', String(port), '-t', String(opts.seconds ?? 5), '-J', '--connect-timeout', '5000'];
  if (opts.reverse) args.push('-R');
  const r = await client.run('iperf3', args, { timeoutMs: ((opts.seconds ?? 5) + 35) * 1000 });
  const report = JSON.parse(r.stdout || '{}') as IperfReport;
  assert.equal(r.code, 0, `iperf3 ${opts.reverse ? '-R ' : ''}to ${serverAddr} failed: ${report.error ?? r.stderr}`);
  const received = report.end?.sum_received;
  assert.ok(received && received.bytes > 0, 'iperf3 moved no data');
  assert.ok(await proc.waitExit(10_000), 'iperf3 -s -1 did not exit after its test');
  return { bytes: received.bytes, bitsPerSecond: received.bits_per_second };
}
