/**
 * How a command's action reports its exit code to the program (./../program.ts).
 * @module
 */
export type Run = <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;
