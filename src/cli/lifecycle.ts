// Start-up and shut-down of a daemon: cleanup steps registered as things are created run
// in reverse order, once, whatever asked for the shutdown (a signal, the UAPI socket
// removed, the interface deleted, a failed start-up, an internal error).
import type { Logger } from '../wireguard/log.js';

export interface Lifecycle {
  /** Registers a cleanup step; steps run newest first. */
  defer(what: string, step: () => Promise<void> | void): void;
  /** Asks for shutdown with the given exit code; later requests are ignored. */
  shutdown(reason: string, exitCode?: number): void;
  /** Resolves with the exit code once every cleanup step has run. */
  readonly done: Promise<number>;
}

export interface LifecycleOptions {
  signals?: readonly NodeJS.Signals[];
  /** Cleanup taking longer than this is abandoned (default 5 s): exit anyway. */
  cleanupTimeoutMs?: number;
}

export function createLifecycle(logger: Logger, opts: LifecycleOptions = {}): Lifecycle {
  const steps: { what: string; step: () => Promise<void> | void }[] = [];
  let requested = false;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));
  const signals = opts.signals ?? (['SIGINT', 'SIGTERM'] as const);
  const onSignal = (signal: NodeJS.Signals): void => shutdown(`received ${signal}`);

  const runSteps = async (): Promise<void> => {
    for (const { what, step } of steps.reverse()) {
      try {
        await step();
      } catch (err) {
        logger.error(`shutdown: ${what}: ${(err as Error).message}`);
      }
    }
  };

  const shutdown = (reason: string, exitCode = 0): void => {
    if (requested) return;
    requested = true;
    logger.verbose(`Shutting down: ${reason}`);
    for (const signal of signals) process.off(signal, onSignal);
    const timeoutMs = opts.cleanupTimeoutMs ?? 5000;
    const timer = setTimeout(() => {
      logger.error(`shutdown: cleanup did not finish within ${timeoutMs} ms`);
      resolveDone(exitCode);
    }, timeoutMs);
    void runSteps().then(() => {
      clearTimeout(timer);
      resolveDone(exitCode);
    });
  };

  for (const signal of signals) process.on(signal, onSignal);

  return {
    defer: (what, step) => {
      // Something created while shutting down (start-up was still running): undo it now.
      if (requested) {
        void (async () => step())().catch((err: Error) => logger.error(`shutdown: ${what}: ${err.message}`));
        return;
      }
      steps.push({ what, step });
    },
    shutdown,
    done,
  };
}
