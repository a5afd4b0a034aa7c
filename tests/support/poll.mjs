// Waiting for something that happens after the answer (an alarm, a queue, a
// flush to D1): one poll helper, which fails loudly when the time is up.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `probe()` until `done(result)` holds, and returns that result. When
 * `timeoutMs` passes first it throws, naming `what` and showing the last
 * result: a poll that quietly handed back its last value would let the next
 * assertion pass vacuously or fail far from the cause.
 */
export async function eventually(probe, done, { timeoutMs = 5000, intervalMs = 50, what = "the condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe();
    if (done(result)) return result;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last result: ${show(result)}`);
    await sleep(intervalMs);
  }
}

/** A result, short enough for an error message. */
function show(value) {
  let text;
  if (value && typeof value === "object" && "status" in value && "text" in value) {
    text = `${value.status} ${value.text}`; // a KeybrakeClient answer
  } else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 1500 ? `${text.slice(0, 1500)}… (${text.length} characters)` : text;
}
