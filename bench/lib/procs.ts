/**
 * Child processes of the benchmark (the `wrangler dev`s): each is started in
 * a process group of its own (wrangler, esbuild and the workerd's it spawns),
 * and the whole group is killed at the end, on error and on a signal, so that
 * no process is left behind.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";

interface Tracked {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: boolean;
}

const tracked = new Set<Tracked>();

export interface Started {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves when the process exits (code or signal). */
  exited: Promise<string>;
  hasExited(): boolean;
}

export function startGroup(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; logFile: string },
): Started {
  const fd = openSync(options.logFile, "a");
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", fd, fd], detached: true });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const entry: Tracked = { name, child, logFile: options.logFile, exited: false };
  tracked.add(entry);
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => {
      entry.exited = true;
      resolve(signal ? `signal ${signal}` : `code ${code}`);
    });
    child.once("error", (e) => {
      entry.exited = true;
      resolve(`error ${e.message}`);
    });
  });
  return { name, pid: child.pid, logFile: options.logFile, exited, hasExited: () => entry.exited };
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** The process group started last (to kill a start that failed). */
export function lastStartedPgid(): number | undefined {
  return [...tracked].at(-1)?.child.pid;
}

/** SIGTERM one group, SIGKILL it if it is still there after `graceMs`. */
export async function killGroup(pgid: number | undefined, graceMs = 5000): Promise<void> {
  if (pgid === undefined) return;
  signalGroup(pgid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive(pgid)) signalGroup(pgid, "SIGKILL");
  for (const t of tracked) if (t.child.pid === pgid) tracked.delete(t);
}

/** SIGTERM every group, wait up to `graceMs` for each to be gone, then SIGKILL what is left. */
export async function killAll(graceMs = 5000): Promise<void> {
  const groups = [...tracked].map((t) => t.child.pid!).filter((pid) => groupAlive(pid));
  for (const pgid of groups) signalGroup(pgid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groups.some(groupAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pgid of groups) if (groupAlive(pgid)) signalGroup(pgid, "SIGKILL");
  const killDeadline = Date.now() + 3000;
  while (groups.some(groupAlive) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 50));
  const left = groups.filter(groupAlive);
  if (left.length > 0) process.stderr.write(`bench: process groups still alive after SIGKILL: ${left.join(", ")}\n`);
  tracked.clear();
}

/** Last resort, synchronous (process 'exit'): SIGKILL every group still tracked. */
export function killAllSync(): void {
  for (const t of tracked) if (t.child.pid !== undefined) signalGroup(t.child.pid, "SIGKILL");
  tracked.clear();
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** `n` distinct ports that were free a moment ago on 127.0.0.1 (all held open together, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.on("error", reject);
          server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            resolve(typeof address === "object" && address ? address.port : 0);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

let ticksPerSecond: number | undefined;

/**
 * CPU time (user + system, ms) used so far by every live process of a process
 * group, from /proc. A Worker's own cost per request is far less disturbed by
 * other load on the machine than its throughput is. Linux only (null elsewhere).
 */
export function groupCpuMs(pgid: number): number | null {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return null;
  }
  if (ticksPerSecond === undefined) {
    const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    ticksPerSecond = Number(r.stdout?.trim()) || 100;
  }
  let ticks = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) !== pgid) continue;
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return (ticks * 1000) / ticksPerSecond;
}
