// Finding and checking processes a test did not start itself: the daemons a program left
// running after its parent exited, and the environment that makes such a parent quiet.
import { readdir, readFile } from 'node:fs/promises';

/** Environment without LOG_LEVEL or WG_PROCESS_FOREGROUND: a daemon then keeps none of our pipes open. */
export function quietEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LOG_LEVEL;
  delete env.WG_PROCESS_FOREGROUND;
  return { ...env, ...extra };
}

/** PIDs whose command line contains all of `parts` (as whole arguments). */
export async function pidsWith(...parts: string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (parts.every((p) => args.includes(p))) pids.push(Number(entry));
  }
  return pids;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
