import type { ChildProcess } from 'node:child_process';

/**
 * Sends `signal` to a child process, but only to one that really started and has not exited.
 *
 * Why this exists: when `spawn` fails with ENOENT/EACCES, Node reports it on the next tick and
 * leaves a handle whose pid is 0. `child.kill()` in that window goes to libuv's
 * `uv_process_kill`, which calls `kill(0, signal)`: the signal goes to our whole process
 * group, the daemon included (and the test runner or the shell that started it). That was
 * traced (`strace -k`) on a daemon whose start failed while the missing `tegrastats` was
 * being spawned.
 */
export function signalChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): boolean {
  const pid = child.pid;
  if (pid === undefined || pid <= 0) return false;
  if (child.exitCode !== null || child.signalCode !== null) return false;
  return child.kill(signal);
}
