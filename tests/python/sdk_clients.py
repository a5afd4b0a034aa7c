"""The vendors' Python SDKs pointed at Keybrake, for tests/python-sdk.test.mjs:
each scenario makes its calls and prints one JSON object of what the SDK
returned or raised.

usage: sdk_clients.py <keybrake base url> <vault key> <stripe|twilio|resend> [account_sid]
"""

import json
import sys


def error_of(e):
    """What a caller can read from an SDK's error."""
    out = {"class": type(e).__name__, "message": str(e)}
    for name in ("http_status", "status", "code"):
        value = getattr(e, name, None)
        if value is not None:
            out[name] = value
    err = getattr(e, "error", None)  # stripe-python: the error object
    if err is not None and getattr(err, "code", None):
        out["error_code"] = err.code
    headers = getattr(e, "headers", None)
    if headers:
        out["keybrake_error_code"] = headers.get("keybrake-error-code") or headers.get("Keybrake-Error-Code")
    details = getattr(e, "details", None)  # twilio: Keybrake's code is here
    if isinstance(details, dict):
        out["details"] = details
    return out


def refusals(out, calls, error_class=Exception):
    """Runs calls Keybrake should refuse, keeping what each raised."""
    for name, call in calls:
        try:
            call()
            out[name] = {"raised": False}
        except error_class as e:
            out[name] = error_of(e)
    return out


def stripe_scenario(base, token):
    import stripe

    client = stripe.StripeClient(token, base_addresses={"api": base + "/stripe"}, max_network_retries=2)
    out = {}
    pi = client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", "customer": "cus_py_sdk"})
    out["created"] = {"id": pi.id, "amount": pi.amount}
    return refusals(
        out,
        (
            ("capped", lambda: client.v1.payment_intents.create(params={"amount": 4000, "currency": "usd", "customer": "cus_py_sdk_over"})),
            ("not_allowed", lambda: client.v1.customers.create(params={"email": "py@x.test"})),
        ),
        stripe.StripeError,
    )


def twilio_scenario(base, token, account_sid):
    from twilio.rest import Client

    client = Client(account_sid, token)
    client.api.base_url = base + "/twilio"
    out = {}
    message = client.messages.create(to="+15555550100", from_="+15555550199", body="py-sdk-twilio")
    out["sent"] = {"sid": message.sid, "account_sid": message.account_sid}
    return refusals(
        out,
        (
            ("capped", lambda: client.messages.create(to="+15555550100", from_="+15555550199", body="py-sdk-twilio-2")),
            ("not_allowed", lambda: client.calls.create(to="+15555550100", from_="+15555550199", url="https://x.test/twiml")),
        ),
    )


def resend_scenario(base, token):
    import resend

    resend.api_key = token
    resend.api_url = base + "/resend"
    out = {}
    sent = resend.Emails.send({"from": "shop@x.test", "to": ["a@x.test"], "subject": "py-sdk-resend", "html": "<p>hi</p>"})
    out["sent"] = {"id": sent["id"]}
    return refusals(
        out,
        (
            ("capped", lambda: resend.Emails.send({"from": "shop@x.test", "to": ["b@x.test"], "subject": "py-sdk-resend-2", "html": "x"})),
            ("not_allowed", lambda: resend.Domains.list()),
        ),
    )


if __name__ == "__main__":
    base, token, vendor = sys.argv[1:4]
    if vendor == "stripe":
        result = stripe_scenario(base, token)
    elif vendor == "twilio":
        result = twilio_scenario(base, token, sys.argv[4])
    else:
        result = resend_scenario(base, token)
    print(json.dumps(result, default=str))
