import { fromEnv, type Keybrake } from "@keybrake/workers";
import type { Env } from "./env";

/** One client per Worker: over the service binding, with the token. */
export function keybrake(env: Env): Keybrake {
  return fromEnv(env);
}
