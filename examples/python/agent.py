"""A Python agent that pays through Keybrake: it issues a vault key for one
run, hands only that key to the Stripe SDK, and revokes it when the run ends,
whatever happens. The agent holds an issuer token (or the admin token), never
Stripe's secret.

    KEYBRAKE_URL=https://keybrake.example.com KEYBRAKE_TOKEN=kbi_... \
        python agent.py <run id> <amount in cents> <customer>

Needs only `pip install stripe`; Keybrake's management API is plain JSON over
HTTPS (the standard library is enough).
"""

import contextlib
import json
import os
import sys
import urllib.error
import urllib.request

import stripe


class KeybrakeError(Exception):
    """A refusal of the management API, with Keybrake's code."""

    def __init__(self, status, body):
        super().__init__(f"{body.get('code')}: {body.get('message')}")
        self.status, self.code, self.param = status, body.get("code"), body.get("param")


def keybrake(method, path, body=None, headers=None):
    """One call of Keybrake's management API; its JSON answer, or KeybrakeError."""
    request = urllib.request.Request(
        os.environ["KEYBRAKE_URL"].rstrip("/") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "authorization": "Bearer " + os.environ["KEYBRAKE_TOKEN"],
            "content-type": "application/json",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        raise KeybrakeError(e.code, json.load(e)) from None


@contextlib.contextmanager
def vault_key(policy, idempotency_key=None):
    """Issues a vault key for the `with` block and always revokes it after.
    With an idempotency key, a retried run gets the same key back instead of
    leaving a second one alive."""
    headers = {"idempotency-key": idempotency_key} if idempotency_key else None
    key = keybrake("POST", "/v1/keys", policy, headers)
    try:
        yield key
    finally:
        keybrake("DELETE", "/v1/keys/" + key["id"])


def charge(run_id, amount, customer):
    policy = {
        "label": f"py-agent-{run_id}",
        "vendor": "stripe",
        "allowed_endpoints": ["POST /v1/payment_intents"],
        "daily_usd_cap": 50,
        "expires_in": "5m",
        "constraints": {"customers": [customer]},
    }
    with vault_key(policy, idempotency_key=f"py-agent-{run_id}") as key:
        client = stripe.StripeClient(key["token"], base_addresses={"api": os.environ["KEYBRAKE_URL"].rstrip("/") + "/stripe"})
        try:
            pi = client.v1.payment_intents.create(params={"amount": amount, "currency": "usd", "customer": customer})
            return {"paid": pi.id, "key_id": key["id"]}
        except stripe.StripeError as e:
            # Keybrake's refusals arrive as the SDK's own errors; the code is
            # in e.error.code (stripe-python leaves e.code empty on 403/429).
            return {"refused": e.error.code if e.error else None, "status": e.http_status, "key_id": key["id"]}


if __name__ == "__main__":
    run_id, amount, customer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(json.dumps(charge(run_id, amount, customer)))
