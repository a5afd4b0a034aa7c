// The common part of the fake vendors: an HTTP server on 127.0.0.1 that
// records every request and lets a test override any answer.
import http from "node:http";

/**
 * @param handle (record, res) => void  the vendor's own answers
 * @param port  0 for any free port
 */
export async function startFakeServer(handle, port = 0) {
  const requests = [];
  // (record) => undefined | { status, body, delayMs }
  let override = null;
  const server = http.createServer((req, res) => {
    // When the request arrived, to tell what reached the vendor after a revocation.
    const at = Date.now();
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const url = new URL(req.url, "http://fake");
      const body = Buffer.concat(chunks).toString("utf8");
      const record = {
        at,
        method: req.method,
        path: url.pathname,
        query: url.search,
        headers: req.headers,
        body,
        form: Object.fromEntries(new URLSearchParams(body)),
        formAll: new URLSearchParams(body),
      };
      try {
        record.json = JSON.parse(body);
      } catch {
        record.json = undefined;
      }
      requests.push(record);
      const custom = override?.(record);
      if (custom) {
        if (custom.delayMs) await new Promise((r) => setTimeout(r, custom.delayMs));
        res.writeHead(custom.status ?? 200, { "content-type": "application/json" });
        res.end(JSON.stringify(custom.body ?? {}));
        return;
      }
      handle(record, res);
    });
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    respondWith(fn) {
      override = fn;
    },
    reset() {
      requests.length = 0;
      override = null;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(resolve);
      }),
  };
}

export function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** Runs `start` when the module is the entry point, logging what arrives. */
export async function serveStandalone(moduleUrl, start) {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  const fake = await start();
  setInterval(() => {
    while (fake.requests.length) {
      const r = fake.requests.shift();
      console.log(`${r.method} ${r.path}${r.query} auth=${r.headers.authorization?.slice(0, 14)}… ${r.body}`);
    }
  }, 200);
}
