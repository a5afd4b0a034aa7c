// The runtime's own costs, measured alone: a Worker that forwards to the
// fake vendor after doing one of the things Keybrake does per call, and
// nothing else. `bench/floors.mjs` drives it; each path is one floor.
//   /vendor          forward only (the passthrough)
//   /do              one Durable Object round trip, then forward
//   /do-sql          one round trip in which the object commits one SQLite row
//   /do-sql-twice    two round trips with a commit each (reserve, settle)
//   /do-new          one round trip to a new object that commits one row
//                    (what issuing a key costs: a fresh SQLite database)
//   /rpc             one Durable Object RPC call (no Request/Response), then forward
//   /rpc-sql         one RPC call in which the object commits one SQLite row
//   /d1              one D1 insert, then forward
import { DurableObject } from "cloudflare:workers";

export class Floor extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, at INTEGER)");
  }

  async fetch(request) {
    if (new URL(request.url).pathname === "/write") {
      this.ctx.storage.sql.exec("INSERT INTO rows (at) VALUES (?)", Date.now());
    }
    return new Response("{}");
  }

  // The same work as `fetch`, called as a method: a string in, a string out.
  async call(op, body) {
    if (op === "write") this.ctx.storage.sql.exec("INSERT INTO rows (at) VALUES (?)", Date.now());
    return body;
  }
}

let d1Ready;

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    const stub = env.FLOOR.get(pathname === "/do-new" ? env.FLOOR.newUniqueId() : env.FLOOR.idFromName("one"));
    if (pathname === "/do") await (await stub.fetch("https://object/nothing", { method: "POST", body: "{}" })).text();
    if (pathname === "/do-sql" || pathname === "/do-new") await (await stub.fetch("https://object/write", { method: "POST", body: "{}" })).text();
    if (pathname === "/do-sql-twice") {
      await (await stub.fetch("https://object/write", { method: "POST", body: "{}" })).text();
      await (await stub.fetch("https://object/write", { method: "POST", body: "{}" })).text();
    }
    if (pathname === "/rpc") await stub.call("nothing", "{}");
    if (pathname === "/rpc-sql") await stub.call("write", "{}");
    if (pathname === "/d1") {
      d1Ready ??= env.DB.exec("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, at INTEGER)");
      await d1Ready;
      await env.DB.prepare("INSERT INTO rows (at) VALUES (?)").bind(Date.now()).run();
    }
    return fetch(env.UPSTREAM + "/v1/payment_intents", { method: "POST", body: "amount=1&currency=usd", headers: { "content-type": "application/x-www-form-urlencoded" } });
  },
};
