import type { ChildProcess } from "node:child_process";

/**
 * Processes a test or script starts must not outlive it. 'exit' covers normal
 * ends and process.exit(); the signal handlers cover being terminated. Each
 * cleanup must be synchronous (nothing async runs at 'exit').
 */
const cleanups = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // one failing cleanup must not stop the others
    }
  }
}

export function atExit(fn: () => void): void {
  cleanups.add(fn);
  if (installed) return;
  installed = true;
  process.on("exit", runAll);
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    const handler = () => {
      runAll();
      process.removeListener(sig, handler);
      // Re-raise for the default action, but only if nobody else handles the signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/** Resolves true once the child has exited, false after timeoutMs. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}
