// Drops the `name` custom section (function names for debuggers and
// profilers, about a fifth of the module) from the built Worker's .wasm.
// `strip = true` in Cargo.toml would also drop symbols wasm-bindgen needs;
// binaryen's wasm-opt would do this but worker-build downloads it from a
// host this machine may not reach, so it is off (Cargo.toml). KEYBRAKE_KEEP_WASM_NAMES=1 keeps the names
// (for CPU profiles).
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
if (process.env.KEYBRAKE_KEEP_WASM_NAMES === "1") process.exit(0);
const wasm = readFileSync(file);
if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${file} is not a wasm module`);

/** Reads an unsigned LEB128 at `at`: [value, next offset]. */
function leb(buf, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

const kept = [wasm.subarray(0, 8)];
let at = 8;
let dropped = 0;
while (at < wasm.length) {
  const start = at;
  const id = wasm[at++];
  const [size, body] = leb(wasm, at);
  const end = body + size;
  let name = "";
  if (id === 0) {
    const [len, text] = leb(wasm, body);
    name = wasm.subarray(text, text + len).toString("utf8");
  }
  if (id === 0 && name === "name") dropped += end - start;
  else kept.push(wasm.subarray(start, end));
  at = end;
}
writeFileSync(file, Buffer.concat(kept));
console.log(`${file}: dropped ${dropped} bytes of function names`);
