// Independent check of taskgw's webhook signatures with the reference
// Standard Webhooks implementation (npm "standardwebhooks"), never with
// taskgw's own signing code.
//
//   node t/node/verify.js < checks.json
//
// stdin: a JSON array of {"secret": "whsec_...", "body_b64": "...",
// "headers": {"webhook-id": ..., "webhook-timestamp": ...,
// "webhook-signature": ...}}; stdout: a JSON array, one
// {"ok": true} or {"ok": false, "error": "..."} per check, in order.
"use strict";

const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => {
    const checks = JSON.parse(input);
    const out = checks.map((c) => {
        try {
            const body = Buffer.from(c.body_b64, "base64").toString("utf8");
            new Webhook(c.secret).verify(body, c.headers);
            return { ok: true };
        } catch (e) {
            return { ok: false, error: String(e && e.message || e) };
        }
    });
    process.stdout.write(JSON.stringify(out) + "\n");
});
