// Generated from docs/openapi.json by `npm run client:types`
// (scripts/client-types.mjs, openapi-typescript); do not edit by hand.

export interface paths {
    "/v1/keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List keys, newest first */
        get: operations["listKeys"];
        put?: never;
        /** Issue a vault key (the token is shown once) */
        post: operations["issueKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/keys/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        /** A key with its live spend for today */
        get: operations["getKey"];
        put?: never;
        post?: never;
        /** Revoke (idempotent); every call that starts after this returns is refused */
        delete: operations["revokeKey"];
        options?: never;
        head?: never;
        /** Change a live key's caps, expiry or constraints, exactly against the calls in flight */
        patch: operations["updateKey"];
        trace?: never;
    };
    "/v1/keys/{id}/pause": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Pause a key: from when this returns its calls are refused 423 key_paused (retryable); idempotent */
        post: operations["pauseKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/keys/{id}/resume": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Resume a paused key: the same key carries on, with the same spend */
        post: operations["resumeKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/keys/revoke-all": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Revoke every outstanding key, or those matching a filter */
        post: operations["revokeAll"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Endpoints not deleted, newest first */
        get: operations["listWebhooks"];
        put?: never;
        /** Register an endpoint; its signing secret is in this answer only */
        post: operations["createWebhook"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        /** An endpoint with its latest 50 deliveries */
        get: operations["getWebhook"];
        put?: never;
        post?: never;
        /** Stop sending to an endpoint */
        delete: operations["deleteWebhook"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/issuers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Issuers, newest first */
        get: operations["listIssuers"];
        put?: never;
        /** Create an issuer token with ceilings (the token is shown once) */
        post: operations["createIssuer"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/issuers/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        /** An issuer with its live key count */
        get: operations["getIssuer"];
        put?: never;
        post?: never;
        /** Revoke an issuer: its token is refused at once, and every live key it issued is revoked */
        delete: operations["revokeIssuer"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/budgets": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Budgets */
        get: operations["listBudgets"];
        put?: never;
        /** Create or update the account-wide daily budget of a vendor (and label prefix); binds live keys it covers */
        post: operations["setBudget"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/budgets/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        /** A budget with what is leased today */
        get: operations["getBudget"];
        put?: never;
        post?: never;
        /** Delete a budget: its keys are no longer bound by it */
        delete: operations["deleteBudget"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/approvals": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Approvals, newest first (as of the keys' last audit flush; an issuer sees its own keys') */
        get: operations["listApprovals"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/approvals/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        /** One approval, live from its key's object; ?wait=N (≤ 60) answers as soon as it is decided, or after N seconds */
        get: operations["getApproval"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/approvals/{id}/approve": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Approve a pending approval: the same request may then go through once, on the cost already held */
        post: operations["approveApproval"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/approvals/{id}/deny": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Deny a pending approval: its hold is released at once */
        post: operations["denyApproval"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/audit": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Every proxied attempt, allowed or denied, newest first */
        get: operations["listAudit"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/usage": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Calls and spend grouped by key, label, vendor or UTC day, summed from the audit log */
        get: operations["getUsage"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description What Keybrake needs and lacks, named (values never): 200 when its bindings and configuration hold, 503 naming each problem otherwise. No token needed; with the admin token it also says which vendors can be called. `npm run doctor` reads it. */
        get: operations["health"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This description */
        get: operations["openapi"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/stripe/{path}": {
        parameters: {
            query?: never;
            header?: {
                /** @description W3C trace context; its trace id is kept in the audit row (an invalid one is ignored) */
                traceparent?: string;
                /** @description the agent run this call belongs to, kept in the audit row; 1 to 128 visible ASCII characters */
                "Keybrake-Run-Id"?: string;
            };
            path: {
                /** @description a Stripe path such as v1/payment_intents */
                path: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Stripe through a vault key (any method; also on host stripe.<keybrake host>) */
        post: operations["proxyStripe"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/twilio/{path}": {
        parameters: {
            query?: never;
            header?: {
                /** @description W3C trace context; its trace id is kept in the audit row (an invalid one is ignored) */
                traceparent?: string;
                /** @description the agent run this call belongs to, kept in the audit row; 1 to 128 visible ASCII characters */
                "Keybrake-Run-Id"?: string;
            };
            path: {
                path: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Twilio through a vault key (Basic account_sid:token) */
        post: operations["proxyTwilio"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/resend/{path}": {
        parameters: {
            query?: never;
            header?: {
                /** @description W3C trace context; its trace id is kept in the audit row (an invalid one is ignored) */
                traceparent?: string;
                /** @description the agent run this call belongs to, kept in the audit row; 1 to 128 visible ASCII characters */
                "Keybrake-Run-Id"?: string;
            };
            path: {
                path: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Resend through a vault key */
        post: operations["proxyResend"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @enum {string} */
        Vendor: "stripe" | "twilio" | "resend";
        NewKey: {
            label: string;
            vendor: components["schemas"]["Vendor"];
            allowed_endpoints: string[];
            /** @description Stripe-Account / Stripe-Context values the key may send */
            allowed_accounts?: string[];
            /** @description dollars, up to 6 decimals, above zero */
            daily_usd_cap: number | string;
            /** @description 30s, 5m, 2h, 1d (or whole seconds), at most KEYBRAKE_MAX_TTL */
            expires_in: string | number;
            constraints?: components["schemas"]["Constraints"];
        };
        Key: {
            id: string;
            label: string;
            vendor: components["schemas"]["Vendor"];
            allowed_endpoints: string[];
            allowed_accounts?: string[];
            daily_usd_cap: number;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            expires_at: string;
            /** @description epoch milliseconds */
            expiresAt: number;
            /** Format: date-time */
            revoked_at?: string | null;
            /**
             * Format: date-time
             * @description when the key was paused; its calls are refused 423 key_paused until it is resumed
             */
            paused_at?: string | null;
            /** @enum {string} */
            status: "active" | "paused" | "revoked" | "expired";
            /** @description Twilio keys: the placeholder account SID for the SDK */
            account_sid?: string;
            spent_today_usd?: number;
            remaining_today_usd?: number;
            constraints?: components["schemas"]["Constraints"] | null;
            issuer_id?: string | null;
        };
        KeyState: components["schemas"]["Key"] & {
            /** @description held by calls in flight */
            reserved_today_usd: number;
            /** @description audit rows not yet in D1 */
            audit_pending: number;
        };
        IssuedKey: components["schemas"]["Key"] & {
            token: string;
            expires_in?: string;
        };
        AuditEntry: {
            id: string;
            key_id: string | null;
            label: string | null;
            vendor: string | null;
            method: string;
            path: string;
            /** @enum {string} */
            decision: "allowed" | "denied";
            code: string | null;
            message?: string | null;
            upstream_status: number | null;
            cost_usd: number;
            /** Format: date-time */
            created_at: string;
            /** @description the trace id of the call's W3C traceparent header */
            trace_id?: string | null;
            /** @description the call's Keybrake-Run-Id header */
            run_id?: string | null;
            /** @description how the call arrived when not as plain HTTP: mcp */
            via?: string | null;
        };
        Error: {
            /** @enum {string} */
            code: "unauthorized" | "invalid_key" | "key_expired" | "key_revoked" | "key_paused" | "endpoint_not_allowed" | "vendor_mismatch" | "account_not_allowed" | "cap_exhausted" | "constraint_violated" | "ceiling_exceeded" | "forbidden" | "rate_limited" | "bad_request" | "unpriceable_request" | "not_found" | "method_not_allowed" | "payload_too_large" | "idempotency_conflict" | "approval_required" | "approval_closed" | "upstream_unreachable" | "not_configured" | "internal_error";
            message: string;
            param?: string;
            /** @description approval_required: the approval the call waits for */
            approval_id?: string;
        };
        /** @description Limits beyond paths and the daily cap, checked on each call before it is forwarded (403 constraint_violated naming the constraint in param; rate_limit: 429 rate_limited; total_usd_cap: 429 cap_exhausted). Stripe, Twilio and Resend constraints apply to that vendor's keys only. */
        Constraints: {
            /** @description stripe: dollars one payment may move (a create's amount, or a payment's new total) */
            max_amount_usd?: number | string;
            /** @description stripe: currency codes a payment may use (each must be priced by KEYBRAKE_USD_RATES) */
            currencies?: string[];
            /** @description stripe: customer ids a payment may name; a create must name one */
            customers?: string[];
            /** @description stripe: metadata a create must carry; null means any value */
            metadata?: {
                [key: string]: string | null;
            };
            /** @description twilio: E.164 numbers or prefixes (+1, +44…) a message may go to */
            to?: string[];
            /** @description twilio: E.164 numbers or prefixes a message may come from; a message must state From */
            from?: string[];
            /** @description twilio: segments per message */
            max_segments?: number;
            /** @description resend: domains emails may come from */
            from_domains?: string[];
            /** @description resend: domains every recipient (to, cc, bcc) must be in */
            to_domains?: string[];
            /** @description resend: recipients per email */
            max_recipients?: number;
            /** @description calls Keybrake forwards over the key's life (1: single use) */
            max_requests?: number;
            rate_limit?: {
                requests: number;
                /** @enum {string} */
                per: "second" | "minute" | "hour";
            };
            /** @description dollars over the key's whole life, beside daily_usd_cap */
            total_usd_cap?: number | string;
            /** @description any vendor: a call priced above this many dollars is not forwarded until a person approves that exact request (403 approval_required with approval_id); its cost is held against the caps meanwhile */
            approval_above_usd?: number | string;
            /** @description any vendor: how long an approval waits and then stays usable, 10s to 24h (default 15m); expiry releases its hold */
            approval_ttl?: string | number;
        };
        Ceilings: {
            vendors: components["schemas"]["Vendor"][];
            /** @description every key's allowed_endpoints must be covered by these patterns */
            endpoint_ceiling: string[];
            max_daily_usd_cap: number | string;
            /** @description when set, keys must set constraints.total_usd_cap at most this */
            max_total_usd_cap?: number | string | null;
            /** @description longest expires_in (default and at most KEYBRAKE_MAX_TTL) */
            max_ttl?: string;
            max_live_keys: number;
            /** @description every key's label must start with this */
            label_prefix?: string | null;
            /** @description constraints every key must carry, at least this strict */
            required_constraints?: components["schemas"]["Constraints"] | null;
            /** @description the Stripe-Account / Stripe-Context values keys may be allowed (allowed_accounts of a key must be among them); none by default */
            allowed_accounts?: string[];
            /** @description what all of the issuer's keys together may spend in one UTC day, exact under concurrency (required when creating an issuer; null only on issuers made before it existed) */
            max_daily_spend_usd?: number | string | null;
            /** @description what all of the issuer's keys together may spend over the issuer's life */
            max_total_spend_usd?: number | string | null;
            /** @description whether the issuer may approve or deny its own keys' approvals (default false) */
            can_approve?: boolean;
        };
        NewIssuer: components["schemas"]["Ceilings"] & {
            label: string;
            /** @description the issuer token's own lifetime (at most 366d); none by default */
            expires_in?: string;
        };
        Issuer: components["schemas"]["Ceilings"] & {
            id: string;
            label: string;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            expires_at?: string | null;
            /** Format: date-time */
            revoked_at?: string | null;
            /** @enum {string} */
            status: "active" | "revoked" | "expired";
            /** @description GET /v1/issuers/{id}: keys issued and neither revoked nor expired */
            live_keys?: number;
            /** @description DELETE: keys revoked with the issuer */
            revoked_keys?: number;
        };
        IssuedIssuer: components["schemas"]["Issuer"] & {
            token: string;
        };
        Budget: {
            id: string;
            vendor: components["schemas"]["Vendor"];
            label_prefix: string | null;
            daily_usd_cap: number;
            /** Format: date-time */
            created_at: string;
            /** @description POST: live keys issued earlier that the budget now binds */
            attached_keys?: number;
            /** @description GET one: leased to keys today, an upper bound on today's spend under it */
            leased_today_usd?: number;
            keys_today?: number;
        };
        /** @description What to change on a live key; fields left out stay as they are. The label, vendor, endpoints and accounts define the key and cannot change (issue a new key). */
        KeyChange: {
            /** @description raise or lower; applies to the next decision of the key's object */
            daily_usd_cap?: number | string;
            /** @description raise or lower the lifetime cap (constraints.total_usd_cap) */
            total_usd_cap?: number | string;
            /** @description the new expiry, from now, at most KEYBRAKE_MAX_TTL (an issuer's key: its whole life from issuance within the issuer's max_ttl) */
            expires_in?: string | number;
            /** @description replaces the key's constraints; each may only tighten (total_usd_cap is set by the field above) */
            constraints?: components["schemas"]["Constraints"];
        };
        Approval: {
            id: string;
            key_id: string;
            label: string;
            vendor: components["schemas"]["Vendor"];
            /** @enum {string} */
            status: "pending" | "approved" | "denied" | "expired" | "used";
            /** @description held against the key's caps while pending or approved */
            cost_usd: number;
            /** Format: date-time */
            requested_at: string;
            /** Format: date-time */
            expires_at: string;
            /** @description epoch milliseconds */
            expiresAt: number;
            /** Format: date-time */
            decided_at?: string | null;
            /** @description admin, or issuer iss_… */
            decided_by?: string | null;
            note?: string | null;
            /** @description the request id of the call that used it */
            used_by?: string | null;
            request: {
                method: string;
                path: string;
                /** @description in the currency's minor units, as the vendor reads it */
                amount?: number | null;
                currency?: string | null;
                customer?: string | null;
                recipients?: string[];
                run_id?: string | null;
            };
        };
        Webhook: {
            id: string;
            url: string;
            events: ("approval.requested" | "key.spend_threshold" | "key.revoked" | "key.denied_burst" | "budget.spend_threshold" | "issuer.revoked" | "*")[];
            label_prefix?: string | null;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            deleted_at?: string | null;
        };
        WebhookDelivery: {
            event_id: string;
            event_type: string;
            attempt: number;
            /** @enum {string} */
            status: "delivered" | "failed" | "dead";
            response_status?: number | null;
            error?: string | null;
            /** Format: date-time */
            at: string;
        };
        NewWebhook: {
            /** @description https to a public host (KEYBRAKE_ALLOW_INSECURE_WEBHOOKS=1 allows http and local addresses, for development) */
            url: string;
            events: ("approval.requested" | "key.spend_threshold" | "key.revoked" | "key.denied_burst" | "budget.spend_threshold" | "issuer.revoked" | "*")[];
            label_prefix?: string;
        };
        Health: {
            ok: boolean;
            /** @description what is missing or broken that Keybrake depends on (bindings, KEYBRAKE_ADMIN_TOKEN, USD rates, KEYBRAKE_CATALOGUE, Twilio price tables), each naming the setting; calls fail closed on the same problems */
            problems: string[];
            /** @description Only with the admin token (a stranger learns nothing about which vendors this deployment holds secrets for): per vendor, whether its upstream credentials are configured; when not, `missing` names the secret (its calls answer 503 not_configured naming it too). A vendor left unconfigured on purpose does not make Keybrake unhealthy. */
            vendors?: {
                [key: string]: {
                    ready: boolean;
                    missing?: string;
                };
            };
        };
    };
    responses: {
        /** @description Malformed input; nothing was changed */
        BadRequest: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Missing or wrong admin token */
        Unauthorized: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description No such key */
        NotFound: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description An issuer token on an admin-only route */
        Forbidden: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
    };
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    listKeys: {
        parameters: {
            query?: {
                status?: "active" | "paused" | "revoked" | "expired";
                vendor?: components["schemas"]["Vendor"];
                label_prefix?: string;
                limit?: number;
                /** @description next_cursor of the previous page */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of keys; spend as of the last audit flush */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        data: components["schemas"]["Key"][];
                        next_cursor: string | null;
                    };
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
        };
    };
    issueKey: {
        parameters: {
            query?: never;
            header?: {
                /** @description Issue at most one key for this value: a retry gets the same key and token back (200, Idempotent-Replayed: true); reuse with another policy is 409 idempotency_conflict. Use a value unique to the intent, such as a Workflow instance id and step name. */
                "Idempotency-Key"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "label": "workers-charge-wf_1",
                 *       "vendor": "stripe",
                 *       "allowed_endpoints": [
                 *         "/v1/payment_intents",
                 *         "/v1/payment_intents/*"
                 *       ],
                 *       "daily_usd_cap": 500,
                 *       "expires_in": "5m"
                 *     }
                 */
                "application/json": components["schemas"]["NewKey"];
            };
        };
        responses: {
            /** @description An Idempotency-Key seen before with the same policy: the same key and token */
            200: {
                headers: {
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["IssuedKey"];
                };
            };
            /** @description Issued */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["IssuedKey"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            /** @description An issuer token asked for a key outside its ceilings (param names the ceiling) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The Idempotency-Key was used with another policy */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The key */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyState"];
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    revokeKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The revoked key */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Key"];
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    updateKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["KeyChange"];
            };
        };
        responses: {
            /** @description The key as changed, with its live spend */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyState"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            /** @description An issuer token asked for a change outside its ceilings (named in param); nothing was changed */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            404: components["responses"]["NotFound"];
        };
    };
    pauseKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The paused key */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyState"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    resumeKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The resumed key */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyState"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    revokeAll: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    vendor?: components["schemas"]["Vendor"];
                    label_prefix?: string;
                };
            };
        };
        responses: {
            /** @description How many keys were revoked */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        revoked: number;
                    };
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
        };
    };
    listWebhooks: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Endpoints */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        data: components["schemas"]["Webhook"][];
                    };
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    createWebhook: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["NewWebhook"];
            };
        };
        responses: {
            /** @description The endpoint and its secret */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Webhook"] & {
                        secret: string;
                    };
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    getWebhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The endpoint */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Webhook"] & {
                        deliveries: components["schemas"]["WebhookDelivery"][];
                    };
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            /** @description No such endpoint */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    deleteWebhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The deleted endpoint */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Webhook"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            /** @description No such endpoint */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    listIssuers: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Issuers */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        data: components["schemas"]["Issuer"][];
                    };
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    createIssuer: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["NewIssuer"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["IssuedIssuer"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    getIssuer: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The issuer */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Issuer"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    revokeIssuer: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The revoked issuer, with revoked_keys */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Issuer"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    listBudgets: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Budgets */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        data: components["schemas"]["Budget"][];
                    };
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    setBudget: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    vendor: components["schemas"]["Vendor"];
                    label_prefix?: string;
                    daily_usd_cap: number | string;
                };
            };
        };
        responses: {
            /** @description The budget */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Budget"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    getBudget: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The budget */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Budget"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    deleteBudget: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The deleted budget */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Budget"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    listApprovals: {
        parameters: {
            query?: {
                status?: "pending" | "approved" | "denied" | "expired" | "used";
                key_id?: string;
                label_prefix?: string;
                limit?: number;
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        data: components["schemas"]["Approval"][];
                        next_cursor: string | null;
                    };
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
        };
    };
    getApproval: {
        parameters: {
            query?: {
                wait?: number;
            };
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The approval */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Approval"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            /** @description No such approval (or another issuer's) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    approveApproval: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    note?: string;
                };
            };
        };
        responses: {
            /** @description The approval as decided */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Approval"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            /** @description An issuer without can_approve */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such approval (or another issuer's) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description approval_closed: already decided, used or expired */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    denyApproval: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    note?: string;
                };
            };
        };
        responses: {
            /** @description The approval as decided */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Approval"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            /** @description An issuer without can_approve */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such approval (or another issuer's) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description approval_closed: already decided, used or expired */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    listAudit: {
        parameters: {
            query?: {
                key_id?: string;
                label?: string;
                label_prefix?: string;
                vendor?: string;
                decision?: "allowed" | "denied";
                trace_id?: string;
                run_id?: string;
                /** @description epoch ms or RFC 3339 */
                since?: string;
                /** @description epoch ms or RFC 3339 */
                until?: string;
                limit?: number;
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of audit entries */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        data: components["schemas"]["AuditEntry"][];
                        next_cursor: string | null;
                    };
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
        };
    };
    getUsage: {
        parameters: {
            query?: {
                group_by?: "key" | "label" | "vendor" | "day";
                /** @description epoch ms or RFC 3339; default: today's UTC midnight */
                since?: string;
                /** @description epoch ms or RFC 3339 (exclusive); default: now */
                until?: string;
                vendor?: string;
                label_prefix?: string;
                key_id?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Usage, largest spend first */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @enum {string} */
                        group_by: "key_id" | "label" | "vendor" | "day";
                        /** Format: date-time */
                        since: string;
                        /** Format: date-time */
                        until: string;
                        data: {
                            key_id?: string | null;
                            label?: string | null;
                            vendor?: string | null;
                            /** Format: date */
                            day?: string | null;
                            calls: number;
                            allowed: number;
                            denied: number;
                            cost_usd: number;
                        }[];
                        total: {
                            calls: number;
                            cost_usd: number;
                        };
                    };
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
        };
    };
    health: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Up: every binding and setting calls depend on holds */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
            /** @description A binding or setting is missing or broken; each problem names it */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
        };
    };
    openapi: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OpenAPI 3.1 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": Record<string, never>;
                };
            };
        };
    };
    proxyStripe: {
        parameters: {
            query?: never;
            header?: {
                /** @description W3C trace context; its trace id is kept in the audit row (an invalid one is ignored) */
                traceparent?: string;
                /** @description the agent run this call belongs to, kept in the audit row; 1 to 128 visible ASCII characters */
                "Keybrake-Run-Id"?: string;
            };
            path: {
                /** @description a Stripe path such as v1/payment_intents */
                path: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /**
             * @description Stripe's answer with Keybrake-Key-Id, Keybrake-Cost-Usd,
             *     Keybrake-Remaining-Usd and Keybrake-Request-Id, or Keybrake's
             *     refusal (named by the Keybrake-Error-Code header) in Stripe's error shape.
             */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    proxyTwilio: {
        parameters: {
            query?: never;
            header?: {
                /** @description W3C trace context; its trace id is kept in the audit row (an invalid one is ignored) */
                traceparent?: string;
                /** @description the agent run this call belongs to, kept in the audit row; 1 to 128 visible ASCII characters */
                "Keybrake-Run-Id"?: string;
            };
            path: {
                path: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Twilio's answer, or Keybrake's refusal (named by the Keybrake-Error-Code header) in twilio-node's shape */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    proxyResend: {
        parameters: {
            query?: never;
            header?: {
                /** @description W3C trace context; its trace id is kept in the audit row (an invalid one is ignored) */
                traceparent?: string;
                /** @description the agent run this call belongs to, kept in the audit row; 1 to 128 visible ASCII characters */
                "Keybrake-Run-Id"?: string;
            };
            path: {
                path: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Resend's answer, or Keybrake's refusal (named by the Keybrake-Error-Code header) in resend-node's shape */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
}
