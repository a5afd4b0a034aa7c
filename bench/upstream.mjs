// A lean stand-in for the vendor: answers at once in Stripe's shape and
// records nothing, so the benchmark measures the proxies, not the fake.
// Runs in its own process; prints its port.
import http from "node:http";

let seq = 0;
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const body = JSON.stringify({ id: `pi_bench${++seq}`, object: "payment_intent", amount: 1, currency: "usd", status: "requires_confirmation" });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
