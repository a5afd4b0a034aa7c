import { Keybrake } from "@keybrake/workers";
import type { Env } from "./env";

/** One client per Worker: over the service binding, with the admin token. */
export function keybrake(env: Env): Keybrake {
  return new Keybrake({ binding: env.KEYBRAKE, token: env.KEYBRAKE_TOKEN });
}
