/**
 * The operator console in a real browser: `wrangler dev`, traffic with known figures, and headless
 * Chromium (Debian's `chromium`, driven by playwright-core) through every view. The figures on the
 * page, in `/metrics` and in the logs must agree. Screenshots of each view go to the ignored
 * test-results/console/; `npm run console:screenshots` writes them to the committed docs/console/ instead.
 *
 * The test needs `chromium` on PATH or at CHROMIUM_PATH (.ci/run installs it when it is missing). Without
 * one it is skipped with a message saying so, except under CI=true, where a missing browser is a failure.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumDecision } from "../support/chromium";
import { ADMIN_PREFIX, adminToken, bearer, fetchDrained } from "../support/http";
import { localKvPut } from "../support/local-kv";
import { PROJECT_ROOT, sluiceVars, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";

// The callbacks given to page.evaluate and page.waitForFunction run in the page, where these exist.
declare const document: {
  body: { dataset: Record<string, string | undefined> };
  getElementById(id: string): { textContent: string | null } | null;
  querySelector(selector: string): { textContent: string | null } | null;
};
declare const location: { hash: string };
declare const sessionStorage: { getItem(key: string): string | null };

const TOKEN = adminToken("console-e2e");
const READ_TOKEN = adminToken("console-e2e-read");
const EVIL_ID = "<img src=x onerror=alert(1)>";
const EVIL_KEY = `tenant:${EVIL_ID}`;
const RULE = "tenant-api";
// Keyed by request headers: a user id is shown as it is, an API key only by its hash.
const USER_RULE = "per-user";
const PARTNER_RULE = "per-partner";
const PARTNER_KEY = "pk_live_Never-On-The-Page-7e21";
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? join(PROJECT_ROOT, "docs", "console")
  : join(PROJECT_ROOT, "test-results", "console");

const browserDecision = chromiumDecision(process.env);
// On a developer's machine the other tiers still run; in CI a missing browser must not pass unseen.
if ("fail" in browserDecision) throw new Error(browserDecision.fail);
if ("skip" in browserDecision) process.stderr.write(`\n${browserDecision.skip}\n\n`);
const CHROMIUM = "run" in browserDecision ? browserDecision.run : undefined;

const CANDIDATE_RULE = "tenant-one";
const CANDIDATE = JSON.stringify(
  {
    version: 1,
    headers: ["ietf"],
    defaultTier: "pro",
    rules: [{ id: CANDIDATE_RULE, key: "tenant", limits: [{ limit: 1, window: "15m" }] }],
  },
  null,
  2,
);

const policy = (limit: number) =>
  JSON.stringify(
    {
      version: 1,
      headers: ["ietf"],
      // The tenants' tier "pro" must be one the policy defines.
      defaultTier: "pro",
      rules: [
        {
          id: USER_RULE,
          match: { paths: ["/api/users"] },
          key: "header:x-user-id",
          limits: [{ limit: 1, window: "15m" }],
        },
        {
          id: PARTNER_RULE,
          match: { paths: ["/api/partner"] },
          key: "header:x-api-key",
          limits: [{ limit: 1, window: "15m" }],
        },
        { id: RULE, key: "tenant", limits: [{ limit, window: "15m" }] },
      ],
    },
    null,
    2,
  );

describe.skipIf(!CHROMIUM)(`the operator console in headless Chromium${CHROMIUM ? "" : " (no Chromium found)"}`, () => {
  let dev: WranglerDev;
  let browser: Browser;
  let page: Page;
  let admin: string;
  const dialogs: Array<{ type: string; message: string }> = [];
  const pageErrors: string[] = [];
  const auth = bearer(TOKEN);

  async function adminCall(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${admin}${path}`, {
      ...init,
      headers: { ...auth, "content-type": "application/json", ...init.headers },
    });
  }

  async function tenantCall(apiKey: string): Promise<number> {
    return (await fetchDrained(`${dev.url}/api/orders`, { headers: bearer(apiKey) })).status;
  }

  async function show(view: string): Promise<void> {
    await page.evaluate((hash) => {
      location.hash = hash;
    }, `#/${view}`);
    const name = view.split("?")[0];
    await page.waitForFunction((n) => document.body.dataset.view === n, name);
  }

  beforeAll(async () => {
    dev = await startWranglerDev({
      vars: { ...sluiceVars({ origin: "builtin:echo", token: TOKEN }), ADMIN_READ_TOKEN: READ_TOKEN },
    });
    admin = `${dev.url}${ADMIN_PREFIX}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
    page.on("dialog", async (d) => {
      dialogs.push({ type: d.type(), message: d.message() });
      // Confirmations (rollback, reset) are what the operator answers yes to; anything else is a failure, recorded above.
      if (d.type() === "confirm") await d.accept();
      else await d.dismiss();
    });
    page.on("pageerror", (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    await dev?.stop();
  });

  it("generates traffic with known figures", async () => {
    // v1: 3 per 15 minutes per tenant. v2 raises it; the page will roll back to v1.
    expect((await adminCall("/policy", { method: "PUT", body: policy(3) })).status).toBe(200);
    expect(
      (
        await adminCall("/tenants", {
          method: "PUT",
          body: JSON.stringify({ apiKey: "key-good", id: "good", tier: "pro" }),
        })
      ).status,
    ).toBe(200);
    // PUT /tenants refuses an id outside [A-Za-z0-9_.-]; a record written into KV by hand is not checked,
    // so the page must still show such an id as text.
    const evilHash = createHash("sha256").update("key-evil").digest("hex");
    await localKvPut(`tenant:${evilHash}`, JSON.stringify({ id: EVIL_ID, tier: "pro" }), dev.persistTo);
    const evil = [];
    for (let i = 0; i < 5; i++) evil.push(await tenantCall("key-evil"));
    expect(evil).toEqual([200, 200, 200, 429, 429]);
    expect([await tenantCall("key-good"), await tenantCall("key-good")]).toEqual([200, 200]);
    const headerCall = async (path: string, headers: Record<string, string>) =>
      (await fetchDrained(`${dev.url}${path}`, { headers })).status;
    expect([
      await headerCall("/api/users", { "x-user-id": "U1" }),
      await headerCall("/api/users", { "x-user-id": "u1" }),
    ]).toEqual([200, 429]);
    expect([
      await headerCall("/api/partner", { "x-api-key": PARTNER_KEY }),
      await headerCall("/api/partner", { "x-api-key": PARTNER_KEY }),
    ]).toEqual([200, 429]);
    expect((await adminCall("/policy", { method: "PUT", body: policy(100) })).status).toBe(200);
  });

  it("serves the page with a strict CSP and no inline script, and refuses a wrong token", async () => {
    const res = await fetch(`${admin}/console`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/\son[a-z]+=/i);

    await page.goto(`${admin}/console`);
    await page.waitForSelector("#token-form:not([hidden])");
    await page.screenshot({ path: join(SHOTS, "token.png") });
    await page.fill("#token-input", "not-the-token");
    await page.click("#token-form button[type=submit]");
    await page.waitForFunction(() => document.getElementById("token-error")?.textContent === "The token was refused.");
    expect(await page.isVisible("#token-form")).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem("sluice.adminToken"))).toBeNull();
  });

  it("keeps the right token in sessionStorage and draws the refusals in the overview chart", async () => {
    await page.fill("#token-input", TOKEN);
    await page.click("#token-form button[type=submit]");
    await page.waitForFunction(() => document.body.dataset.view === "overview");
    expect(await page.evaluate(() => sessionStorage.getItem("sluice.adminToken"))).toBe(TOKEN);
    expect((await page.context().cookies()).length).toBe(0);

    const total = (verdict: string) =>
      page.textContent(`.chart[data-rule="${RULE}"] .legend-item[data-verdict="${verdict}"] .total`);
    expect(await total("admitted")).toBe("5");
    expect(await total("refused")).toBe("1");
    expect(await total("cached_refusal")).toBe("1");
    expect(await page.locator(`.chart[data-rule="${RULE}"] polyline[data-verdict="refused"]`).count()).toBe(1);
    expect(await page.textContent("#policy-version")).toBe("v2");
    await page.screenshot({ path: join(SHOTS, "overview.png"), fullPage: true });
  });

  it("agrees with /metrics and with the logs", async () => {
    const families = parsePrometheusTextFormat(
      // The 0.0.4 text, which this parser reads (OpenMetrics is what /metrics answers otherwise).
      await (await adminCall("/metrics", { headers: { accept: "text/plain;version=0.0.4" } })).text(),
    ) as Array<{
      name: string;
      metrics: Array<{ value: string; labels?: Record<string, string> }>;
    }>;
    const decisions = families.find((f) => f.name === "sluice_decisions_total")!;
    const metric = (verdict: string) =>
      Number(decisions.metrics.find((m) => m.labels?.rule === RULE && m.labels?.verdict === verdict)?.value);
    expect([metric("admitted"), metric("refused"), metric("cached_refusal")]).toEqual([5, 1, 1]);

    const refusedLines = dev
      .output()
      .split("\n")
      .filter((l) => l.includes('"event":"request.refused"') && l.includes(`"rule":"${RULE}"`));
    expect(refusedLines).toHaveLength(2);
    expect(refusedLines.filter((l) => l.includes('"cached":true'))).toHaveLength(1);
    // The logs name the key as the page does; the API key itself is nowhere.
    for (const l of refusedLines) expect(l).toContain(JSON.stringify(EVIL_KEY).slice(1, -1));
    expect(dev.output()).not.toContain("key-evil");
    // A user id is logged readably beside its hashed key; an API key only by its hash.
    expect(dev.output()).toContain('"label":"header:x-user-id:u1"');
    expect(dev.output()).toMatch(/"label":"header:x-api-key:\[credential [0-9a-f]{8}\]"/);
    expect(dev.output().toLowerCase()).not.toContain(PARTNER_KEY.toLowerCase());
  });

  it("lists the refused keys in the top keys as text, by their labels, running nothing", async () => {
    await show("top-keys");
    const link = page.locator("#top-keys a.key");
    expect(await link.count()).toBe(3);
    // Heaviest first: the tenant (a refusal and a cached one) is named by its id; it needs no label.
    expect(await link.first().textContent()).toBe(EVIL_KEY);
    expect(await page.textContent("#top-keys tbody td.num")).toBe("2");
    const userHash = createHash("sha256").update("u1").digest("hex");
    const userRow = page.locator(`#top-keys tr[data-key="header:x-user-id:${userHash}"]`);
    expect(await userRow.locator("a.key-label").textContent()).toBe("header:x-user-id:u1");
    expect(await userRow.locator(".counting-key").textContent()).toBe(`header:x-user-id:${userHash}`);
    const partnerHash = createHash("sha256").update(PARTNER_KEY.toLowerCase()).digest("hex");
    const partnerRow = page.locator(`#top-keys tr[data-key="header:x-api-key:${partnerHash}"]`);
    expect(await partnerRow.locator("a.key-label").textContent()).toBe(
      `header:x-api-key:[credential ${partnerHash.slice(0, 8)}]`,
    );
    expect((await page.content()).toLowerCase()).not.toContain(PARTNER_KEY.toLowerCase());
    // The key view of a labelled row says what the key reads as.
    await userRow.locator("a.key-label").click();
    await page.waitForFunction(() => document.body.dataset.view === "key");
    expect(await page.textContent("#key-name")).toBe(`header:x-user-id:${userHash}`);
    expect(await page.textContent("#key-label")).toBe("header:x-user-id:u1");
    expect(await page.textContent("#key-limits td.remaining")).toBe("0");
    await show("top-keys");
    expect(await page.locator("img").count()).toBe(0);
    expect(dialogs).toEqual([]);
    await page.screenshot({ path: join(SHOTS, "top-keys.png"), fullPage: true });
  });

  it("rolls back to v1 from the policy view; v1 is in force afterwards", async () => {
    await show("policy");
    await page.selectOption("#diff-left", "1");
    await page.selectOption("#diff-right", "2");
    await page.click("#diff-button");
    await page.waitForSelector("#policy-diff pre.add");
    expect(await page.textContent("#policy-diff pre.del")).toContain('"limit": 3');
    expect(await page.textContent("#policy-diff pre.add")).toContain('"limit": 100');

    await page.fill("#validate-input", '{ "version": 1, "rules": [{ "id": "Bad Id", "limits": [] }] }');
    await page.click("#validate-button");
    await page.waitForSelector("#validate-result li");
    expect(await page.textContent("#validate-result")).toContain("rules[0].id");
    await page.screenshot({ path: join(SHOTS, "policy.png"), fullPage: true });

    await page.click('#policy-history tr[data-version="1"] button.rollback');
    await page.waitForFunction(() =>
      /is in force again/.test(document.getElementById("policy-status")?.textContent ?? ""),
    );
    expect(await page.textContent("#policy-status")).toBe("Version 1 is in force again as version 3.");
    expect(dialogs.map((d) => d.type)).toEqual(["confirm"]);

    expect(await (await adminCall("/policy")).text()).toBe(policy(3));
    // In force at the front door too: the evil tenant is back at its limit of 3, used up.
    expect(await tenantCall("key-evil")).toBe(429);
    expect(await tenantCall("key-good")).toBe(200);
    expect(await page.textContent("#policy-version")).toBe("v3");
  });

  it("shows the key's counters and resets them", async () => {
    await show("top-keys");
    await page.click("#top-keys a.key");
    await page.waitForFunction(() => document.body.dataset.view === "key");
    expect(await page.textContent("#key-name")).toBe(EVIL_KEY);
    expect(await page.textContent("#key-limits td.remaining")).toBe("0");
    expect(await page.locator("img").count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, "key.png"), fullPage: true });
    await page.click("#reset-key");
    await page.waitForFunction(() => document.querySelector("#key-limits td.remaining")?.textContent === "3");
    // A full counter says so, not "full again in N s".
    expect(await page.textContent("#key-limits td.full-again")).toBe("full now");
    expect(await tenantCall("key-evil")).toBe(200);
  });

  it("lists tenants (the odd id as text) and explains a request", async () => {
    await show("tenants");
    const ids = await page.locator("#tenants td.key").allTextContents();
    expect(ids.sort()).toEqual([EVIL_ID, "good"].sort());
    await page.screenshot({ path: join(SHOTS, "tenants.png"), fullPage: true });

    await show("explain");
    await page.fill("#explain-url", `${dev.url}/api/orders`);
    await page.fill("#explain-headers", "Authorization: Bearer key-good");
    await page.click("#explain-result ~ * button, form button.primary");
    await page.waitForSelector(`#explain-result tr[data-rule="${RULE}"]`);
    const row = await page.textContent(`#explain-result tr[data-rule="${RULE}"]`);
    expect(row).toContain("tenant:good");
    // key-good used 3 of 3 (two before the rollback, one after): the next would be refused.
    expect(row).toContain("would refuse");
    await page.screenshot({ path: join(SHOTS, "explain.png"), fullPage: true });
    expect(await page.locator("img").count()).toBe(0);
    expect(dialogs.filter((d) => d.type !== "confirm")).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("edits, diffs and publishes a policy with If-Match; a page that went stale gets the conflict, not an overwrite", async () => {
    await show("policy");
    await page.fill("#validate-input", policy(4));
    await page.click("#changes-button");
    await page.waitForSelector("#edit-diff pre.add");
    expect(await page.textContent("#edit-diff pre.del")).toContain('"limit": 3');
    expect(await page.textContent("#edit-diff pre.add")).toContain('"limit": 4');

    // Someone else publishes while the page is open.
    expect((await adminCall("/policy", { method: "PUT", body: policy(5) })).status).toBe(200);
    await page.click("#publish-button");
    await page.waitForSelector("#publish-conflict");
    expect(await (await adminCall("/policy")).text()).toBe(policy(5));

    await page.reload();
    await page.waitForFunction(() => document.body.dataset.view === "policy");
    await page.fill("#validate-input", '{ "version": 1, "rules": [{ "id": "Bad Id", "limits": [] }] }');
    await page.click("#publish-button");
    await page.waitForSelector("#validate-result li");
    expect(await (await adminCall("/policy")).text()).toBe(policy(5));

    await page.fill("#validate-input", policy(4));
    await page.click("#publish-button");
    await page.waitForFunction(() =>
      /Published as version/.test(document.getElementById("policy-status")?.textContent ?? ""),
    );
    const status = await page.textContent("#policy-status");
    const published = await adminCall("/policy");
    expect(status).toBe(`Published as version ${published.headers.get("X-Sluice-Policy-Version")}.`);
    expect(await published.text()).toBe(policy(4));
    await page.screenshot({ path: join(SHOTS, "policy-publish.png"), fullPage: true });
  });

  it("saves a candidate, shows what it would refuse beside the live figures, and promotes it", async () => {
    await show("policy");
    await page.fill("#validate-input", CANDIDATE);
    await page.click("#candidate-button");
    await page.waitForFunction(() =>
      /Saved as candidate/.test(document.getElementById("policy-status")?.textContent ?? ""),
    );
    const cand = { apiKey: "key-cand", id: "cand", tier: "pro" };
    expect((await adminCall("/tenants", { method: "PUT", body: JSON.stringify(cand) })).status).toBe(200);
    // Live: limit 4 per tenant; the candidate: 1. Two requests of a tenant the candidate has not seen.
    expect([await tenantCall("key-cand"), await tenantCall("key-cand")]).toEqual([200, 200]);
    const candidateCell = async () => {
      await show("top-keys");
      await show("policy");
      return page.textContent(`#candidate-figures tr[data-rule="${CANDIDATE_RULE}"] td.candidate`);
    };
    // The candidate decides after each response (waitUntil): give it the moment it takes.
    let cell = await candidateCell();
    for (let i = 0; i < 20 && cell !== "1 of 2"; i++) cell = await candidateCell();
    expect(cell).toBe("1 of 2");
    expect(await page.textContent(`#candidate-figures tr[data-rule="${CANDIDATE_RULE}"] td.live`)).toBe("-");
    const stats = (await (await adminCall("/stats")).json()) as {
      minutes: Array<{ rules: Record<string, Record<string, number>> }>;
    };
    let liveTotal = 0;
    let liveRefused = 0;
    for (const m of stats.minutes) {
      const c = m.rules[RULE];
      if (!c) continue;
      liveTotal += Object.values(c).reduce((a, b) => a + b, 0);
      liveRefused += (c.refused ?? 0) + (c.blocked ?? 0);
    }
    expect(await page.textContent(`#candidate-figures tr[data-rule="${RULE}"] td.live`)).toBe(
      `${liveRefused} of ${liveTotal}`,
    );
    await page.screenshot({ path: join(SHOTS, "candidate.png"), fullPage: true });

    await page.click("#promote-candidate");
    await page.waitForFunction(() =>
      /is in force as version/.test(document.getElementById("policy-status")?.textContent ?? ""),
    );
    expect(await (await adminCall("/policy")).text()).toBe(CANDIDATE);
    expect((await adminCall("/policy/candidate")).status).toBe(404);
  });

  it("shows totals and the share refused per rule, leaves out rules the policy no longer has, and dates a day's axis", async () => {
    expect([await tenantCall("key-cand"), await tenantCall("key-cand")]).toEqual([200, 429]);
    await show("overview?range=day");
    await page.waitForSelector(`.chart[data-rule="${CANDIDATE_RULE}"]`);
    expect(await page.textContent(`.chart[data-rule="${CANDIDATE_RULE}"] .rule-totals`)).toBe(
      "2 requests, 1 refused (50.0%)",
    );
    expect(await page.locator(`.chart[data-rule="${RULE}"]`).count()).toBe(0);
    expect(await page.textContent("#rules-gone")).toContain(RULE);
    const from = await page.textContent(`.chart[data-rule="${CANDIDATE_RULE}"] .axis-from`);
    const to = await page.textContent(`.chart[data-rule="${CANDIDATE_RULE}"] .axis-to`);
    expect(from).not.toBe(to);
    await page.screenshot({ path: join(SHOTS, "overview-day.png"), fullPage: true });
  });

  it("adds a tenant, then edits its tier and overrides without its API key", async () => {
    await show("tenants");
    await page.fill("#tenant-form input[name=apiKey]", "key-newbie");
    await page.fill("#tenant-form input[name=id]", "newbie");
    await page.click("#tenant-save");
    await page.waitForSelector("#tenant-saved");
    expect(await page.textContent('#tenants tr[data-tenant="newbie"] td.key')).toBe("newbie");

    await page.click('#tenants tr[data-tenant="newbie"] button.edit-tenant');
    await page.fill("#tenant-form textarea[name=overrides]", '{"tenant-one-15m": {"limit": 9}}');
    await page.click("#tenant-save");
    await page.waitForFunction(() =>
      (document.querySelector('#tenants tr[data-tenant="newbie"] td.overrides')?.textContent ?? "").includes(
        '"limit":9',
      ),
    );
    const listed = (await (await adminCall("/tenants?id=newbie")).json()) as {
      tenants: Array<{ id: string; overrides?: Record<string, { limit?: number }> }>;
    };
    expect(listed.tenants).toHaveLength(1);
    expect(listed.tenants[0]!.overrides).toEqual({ "tenant-one-15m": { limit: 9 } });
    // The override is in force at the front door: 9, not the rule's 1.
    const res = await fetchDrained(`${dev.url}/api/orders`, { headers: bearer("key-newbie") });
    expect(res.status).toBe(200);
    expect(res.headers.get("RateLimit-Policy")).toContain("q=9");
    // A bad override is refused with its path, and nothing changes.
    await page.click('#tenants tr[data-tenant="newbie"] button.edit-tenant');
    await page.fill("#tenant-form textarea[name=overrides]", '{"no-such-15m": {"limit": 9}}');
    await page.click("#tenant-save");
    await page.waitForSelector("#tenant-result .error");
    await page.screenshot({ path: join(SHOTS, "tenant-edit.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
    expect(dialogs.filter((d) => d.type !== "confirm")).toEqual([]);
  });

  it("with a read token: says who it is, and offers no button that changes state", async () => {
    const reader = await browser.newPage({ viewport: { width: 1200, height: 820 } });
    reader.on("pageerror", (e) => pageErrors.push(e.message));
    await reader.goto(`${admin}/console`);
    await reader.waitForSelector("#token-form:not([hidden])");
    // The prompt names every kind of token, not only ADMIN_TOKEN.
    const prompt = await reader.textContent("#token-form");
    expect(prompt).toContain("ADMIN_READ_TOKEN");
    expect(await reader.textContent("label[for=token-input]")).toBe("Admin token");
    // Signed out, the menu is hidden (its `hidden` attribute wins over the style sheet's display).
    expect(await reader.isVisible("#nav")).toBe(false);
    await reader.fill("#token-input", READ_TOKEN);
    await reader.click("#token-form button[type=submit]");
    await reader.waitForFunction(() => document.body.dataset.view === "overview");
    expect(await reader.textContent("#whoami")).toBe("read (read only)");

    const open = async (view: string) => {
      await reader.evaluate((hash) => {
        location.hash = hash;
      }, `#/${view}`);
      await reader.waitForFunction((n) => document.body.dataset.view === n, view.split("?")[0]);
    };
    await open("policy");
    expect(await reader.isVisible("#read-only-note")).toBe(true);
    for (const id of ["#publish-button", "#candidate-button"]) expect(await reader.isEnabled(id)).toBe(false);
    expect(await reader.isEnabled("#validate-button")).toBe(true);
    const rollbacks = reader.locator("button.rollback");
    expect(await rollbacks.count()).toBeGreaterThan(0);
    for (const b of await rollbacks.all()) expect(await b.isEnabled()).toBe(false);
    await reader.screenshot({ path: join(SHOTS, "read-only.png"), fullPage: true });

    await open("tenants");
    expect(await reader.isEnabled("#tenant-save")).toBe(false);
    for (const b of await reader.locator("button.edit-tenant").all()) expect(await b.isEnabled()).toBe(false);

    // A key of the rule in force now (the candidate promoted above).
    await open(`key?${new URLSearchParams({ rule: CANDIDATE_RULE, object: "tenant:cand" })}`);
    expect(await reader.textContent("#key-name")).toBe("tenant:cand");
    expect(await reader.isEnabled("#reset-key")).toBe(false);
    expect(await reader.isVisible("#read-only-note")).toBe(true);

    // With a write token the same page offers them, and says nothing.
    expect(await page.isVisible("#read-only-note")).toBe(false);
    await reader.close();
    expect(pageErrors).toEqual([]);
  });
});
