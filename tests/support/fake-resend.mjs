// A local stand-in for api.resend.com's email API, in Resend's shapes.
import { sendJson, startFakeServer } from "./fake-server.mjs";

export async function startFakeResend() {
  const apiKey = "re_fake_resend_api_key_0123456789";
  let seq = 0;
  const fake = await startFakeServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return sendJson(res, 401, { statusCode: 401, name: "invalid_api_key", message: "API key is invalid" });
    }
    if (req.method === "POST" && req.path === "/emails") {
      return sendJson(res, 200, { id: `email_${++seq}` });
    }
    if (req.method === "POST" && req.path === "/emails/batch") {
      return sendJson(res, 200, { data: (req.json ?? []).map(() => ({ id: `email_${++seq}` })) });
    }
    return sendJson(res, 404, { statusCode: 404, name: "not_found", message: "Route not found" });
  });
  return { ...fake, apiKey };
}
