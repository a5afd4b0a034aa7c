// A local stand-in for api.twilio.com's Messages API, in Twilio's shapes.
import { sendJson, startFakeServer } from "./fake-server.mjs";

export async function startFakeTwilio() {
  const accountSid = "AC" + "1".repeat(32);
  const authToken = "fake_twilio_auth_token_0123456789";
  const expected = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`;
  let seq = 0;
  const fake = await startFakeServer((req, res) => {
    if (req.headers.authorization !== expected) {
      return sendJson(res, 401, { code: 20003, message: "Authenticate", more_info: "https://www.twilio.com/docs/errors/20003", status: 401 });
    }
    const m = req.path.match(/^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/);
    // Twilio's 2010 API creates with PUT as with POST.
    if ((req.method === "POST" || req.method === "PUT") && m) {
      if (m[1] !== accountSid) return sendJson(res, 404, { code: 20404, message: "Not found", status: 404 });
      const sid = `SM${String(++seq).padStart(32, "0")}`;
      return sendJson(res, 201, {
        sid,
        account_sid: accountSid,
        to: req.form.To,
        from: req.form.From ?? null,
        body: req.form.Body ?? "",
        status: "queued",
        num_segments: "1",
        num_media: String(req.formAll.getAll("MediaUrl").length),
        price: null,
        price_unit: "USD",
        uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
      });
    }
    // The account itself: it answers the auth token (Keybrake must never forward this).
    if (req.method === "GET" && /^\/2010-04-01\/Accounts(\/[^/]+)?(\.json)?$/.test(req.path)) {
      return sendJson(res, 200, { sid: accountSid, auth_token: authToken, status: "active" });
    }
    return sendJson(res, 404, { code: 20404, message: `The requested resource ${req.path} was not found`, status: 404 });
  });
  return { ...fake, accountSid, authToken };
}
