// How much of the machine other work used while the benchmark ran: the whole machine's busy time
// (/proc/stat) less the CPU time of this run's own processes (/proc/<pid>/stat). Both count in clock
// ticks (USER_HZ), so they subtract directly.
import { readFileSync } from 'node:fs';

/** Busy and total ticks of all CPUs together since boot. */
export function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** User + system ticks of one process; with `reaped`, also of its children that have been waited for. */
export function processTicks(pid, reaped = false) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0; // gone
  }
  // Fields after the command name, which is in parentheses and may hold spaces: state is field 3,
  // utime 14, stime 15, cutime 16, cstime 17 (1-based, as in proc(5)).
  const f = text
    .slice(text.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const own = f[11] + f[12];
  return reaped ? own + f[13] + f[14] : own;
}

/** Share of the machine that was busy in the next `ms` milliseconds (nothing of ours is running yet). */
export async function busyShare(ms) {
  const a = machineTicks();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineTicks();
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
}
