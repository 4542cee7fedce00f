/** Starts the loopback origin once for the whole run and hands its port to the Workers tests. */
import type { TestProject } from "vitest/node";
import { startOriginServer } from "./origin-server";

declare module "vitest" {
  export interface ProvidedContext {
    originPort: number;
  }
}

export default async function setup(project: TestProject) {
  const origin = await startOriginServer();
  project.provide("originPort", origin.port);
  return () => origin.close();
}
