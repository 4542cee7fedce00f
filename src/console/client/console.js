/*
 * The operator console, in the browser. Plain JavaScript with no dependency, served as a file by the
 * Worker (src/console/script.ts is generated from this file by `npm run console:build`).
 *
 * Every value that comes from the API (keys, rule ids, paths, header values, tenant ids, policy text) is
 * put on the page as text (createTextNode / textContent), never parsed as HTML.
 */
(() => {
  const TOKEN_KEY = "sluice.adminToken";
  // The verdicts the Worker counts, in the order the charts draw them: `npm run console:build` writes
  // FLEET_VERDICTS of src/observability/fleet-verdict.ts in place of the empty list, so there is one list.
  const VERDICTS = /* FLEET_VERDICTS */ [];
  // One colour per verdict (test/unit/console-asset.test.ts checks that every verdict has one).
  const COLORS = {
    admitted: "#27ae60",
    refused: "#c0392b",
    cached_refusal: "#e67e22",
    shadow_refused: "#8e44ad",
    bypass: "#7f8c8d",
    blocked: "#34495e",
    error_open: "#d4ac0d",
    error_closed: "#a04000",
    late_open: "#f1c40f",
    late_closed: "#6e2c00",
  };
  const SVG_NS = "http://www.w3.org/2000/svg";
  // The console lives at <admin prefix>/console: the API is its parent path.
  const base = location.pathname.replace(/\/console\/?$/, "");
  const view = document.getElementById("view");
  const form = document.getElementById("token-form");
  const nav = document.getElementById("nav");
  const tokenInput = document.getElementById("token-input");
  const tokenError = document.getElementById("token-error");

  class TokenRefused extends Error {}

  /** An element with attributes and children; strings become text nodes. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") e.className = value;
      else if (name.startsWith("on")) e.addEventListener(name.slice(2), value);
      else e.setAttribute(name, value === true ? "" : String(value));
    }
    append(e, children);
    return e;
  }

  function append(parent, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) e.setAttribute(name, String(value));
    append(e, children);
    return e;
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function showTokenForm(message) {
    nav.hidden = true;
    view.replaceChildren();
    form.hidden = false;
    tokenError.textContent = message || "";
    tokenInput.value = "";
    tokenInput.focus();
  }

  async function api(path, init) {
    const options = init || {};
    const headers = new Headers(options.headers);
    headers.set("Authorization", `Bearer ${token()}`);
    let body = options.body;
    if (options.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.json);
    }
    const res = await fetch(base + path, {
      method: options.method || "GET",
      headers,
      body,
      cache: "no-store",
      credentials: "omit",
    });
    if (res.status === 401 || (res.status === 429 && path !== "/explain")) {
      sessionStorage.removeItem(TOKEN_KEY);
      showTokenForm(
        res.status === 401
          ? "The token was refused."
          : "Too many wrong tokens from this address: try again in 15 minutes.",
      );
      throw new TokenRefused();
    }
    return res;
  }

  async function json(path, init) {
    const res = await api(path, init);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.message || `${res.status} ${res.statusText}`);
    return data;
  }

  function time(ms) {
    return ms ? new Date(ms).toLocaleString() : "never";
  }

  function figure(label, value, id) {
    return el(
      "div",
      { class: "figure" },
      el("div", { class: "label" }, label),
      el("div", { class: "value", id }, value),
    );
  }

  // ---- overview ---------------------------------------------------------------------------------

  function chart(rule, rows, from, to, stepMinutes) {
    const step = stepMinutes * 60_000;
    const slots = Math.max(1, Math.round((to - from) / step));
    const perVerdict = new Map();
    for (const r of rows) {
      if (!perVerdict.has(r.verdict)) perVerdict.set(r.verdict, new Array(slots).fill(0));
      const i = Math.floor((r.minute - from) / step);
      if (i >= 0 && i < slots) perVerdict.get(r.verdict)[i] += r.n;
    }
    const max = Math.max(1, ...[...perVerdict.values()].flat());
    const W = 1000;
    const H = 200;
    const x = (i) => (slots === 1 ? W / 2 : (i / (slots - 1)) * (W - 40) + 30);
    const y = (v) => H - 18 - (v / max) * (H - 30);
    const plot = svg(
      "svg",
      {
        viewBox: `0 0 ${W} ${H}`,
        role: "img",
        "aria-label": `requests per ${stepMinutes} min`,
      },
      svg("line", { x1: 30, y1: y(0), x2: W - 10, y2: y(0), stroke: "#888", "stroke-width": 1 }),
      svg("text", { x: 2, y: y(max) + 4, "font-size": 10, fill: "#888" }, String(max)),
      svg("text", { x: 2, y: y(0) + 4, "font-size": 10, fill: "#888" }, "0"),
      svg("text", { x: 30, y: H - 2, "font-size": 10, fill: "#888" }, new Date(from).toLocaleTimeString()),
      svg(
        "text",
        { x: W - 10, y: H - 2, "font-size": 10, fill: "#888", "text-anchor": "end" },
        new Date(to).toLocaleTimeString(),
      ),
    );
    for (const v of VERDICTS) {
      const counts = perVerdict.get(v);
      if (!counts) continue;
      const points = counts.map((n, i) => `${x(i).toFixed(1)},${y(n).toFixed(1)}`).join(" ");
      plot.append(svg("polyline", { points, fill: "none", stroke: COLORS[v], "stroke-width": 2, "data-verdict": v }));
      counts.forEach((n, i) => {
        if (n > 0)
          plot.append(svg("circle", { cx: x(i), cy: y(n), r: 2.5, fill: COLORS[v] }, svg("title", {}, `${v}: ${n}`)));
      });
    }
    const legend = el("div", { class: "legend" });
    for (const v of VERDICTS) {
      const counts = perVerdict.get(v);
      if (!counts) continue;
      const total = counts.reduce((a, b) => a + b, 0);
      legend.append(
        el(
          "span",
          { class: "legend-item", "data-verdict": v },
          svg(
            "svg",
            { width: 10, height: 10, class: "swatch" },
            svg("rect", { width: 10, height: 10, fill: COLORS[v] }),
          ),
          `${v} `,
          el("strong", { class: "total" }, String(total)),
        ),
      );
    }
    const card = el(
      "div",
      { class: "card chart", "data-rule": rule },
      el("h3", {}, "rule ", el("code", {}, rule)),
      plot,
      legend,
    );
    return card;
  }

  async function overview(params) {
    const day = params.get("range") === "day";
    const [ov, series] = await Promise.all([
      json("/fleet/overview"),
      json(`/fleet/series?minutes=${day ? 1440 : 60}`).catch((e) => ({ error: e.message, rows: [] })),
    ]);
    const p = ov.policy;
    const head = el(
      "div",
      { class: "card" },
      el("h2", {}, "Overview"),
      el(
        "div",
        { class: "figures" },
        figure("policy version in force", p.version ? `v${p.version}` : "none published", "policy-version"),
        figure("published", p.version ? time(p.publishedAt) : "-", "policy-published"),
        figure("source", p.source),
        figure("counter-store errors (all time)", String(ov.counterStoreErrors), "store-errors"),
        figure("statistics batches dropped", String(ov.droppedFlushes)),
      ),
    );
    const range = el(
      "div",
      { class: "row" },
      "Requests per rule and verdict: ",
      el("a", { href: "#/overview", class: day ? "" : "active" }, "last hour (per minute)"),
      el("a", { href: "#/overview?range=day", class: day ? "active" : "" }, "last day (per 10 minutes)"),
    );
    const charts = el("div", { id: "charts" });
    if (!ov.statsConfigured)
      charts.append(el("p", { class: "muted" }, "No STATS binding: no fleet-wide figures are kept."));
    else if (series.error) charts.append(el("p", { class: "error" }, series.error));
    const byRule = new Map();
    for (const r of series.rows) {
      if (!byRule.has(r.rule)) byRule.set(r.rule, []);
      byRule.get(r.rule).push(r);
    }
    if (ov.statsConfigured && byRule.size === 0)
      charts.append(el("p", { class: "muted" }, "No decisions in this range."));
    for (const [rule, rows] of [...byRule.entries()].sort())
      charts.append(chart(rule, rows, series.from, series.to, series.stepMinutes));
    view.replaceChildren(head, range, charts);
  }

  // ---- top keys ---------------------------------------------------------------------------------

  function keyLink(rule, key) {
    const q = new URLSearchParams({ rule, object: key });
    return el("a", { href: `#/key?${q}`, class: "key mono" }, key);
  }

  async function topKeys() {
    const data = await json("/fleet/top-keys?minutes=15&limit=50");
    const rows = data.keys.map((k) =>
      el(
        "tr",
        {},
        el("td", {}, el("code", {}, k.rule)),
        el("td", {}, keyLink(k.rule, k.key)),
        el("td", { class: "num" }, String(k.n)),
      ),
    );
    view.replaceChildren(
      el(
        "div",
        { class: "card" },
        el("h2", {}, "Top refused keys, last 15 minutes"),
        rows.length === 0
          ? el("p", { class: "muted" }, "Nothing was refused in the last 15 minutes.")
          : el(
              "table",
              { id: "top-keys" },
              el(
                "thead",
                {},
                el("tr", {}, el("th", {}, "rule"), el("th", {}, "key"), el("th", { class: "num" }, "refusals")),
              ),
              el("tbody", {}, rows),
            ),
      ),
    );
  }

  // ---- one key ----------------------------------------------------------------------------------

  async function keyView(params) {
    const rule = params.get("rule") || "";
    const object = params.get("object");
    const value = params.get("key");
    const ov = await json("/fleet/overview");
    const ruleSelect = el(
      "select",
      { name: "rule" },
      ov.policy.rules.map((r) => el("option", { value: r, selected: r === rule }, r)),
    );
    const keyInput = el("input", {
      name: "key",
      placeholder: "an IP, a tenant id, a header value",
      value: value || "",
    });
    const lookup = el(
      "form",
      {
        class: "row",
        onsubmit: (e) => {
          e.preventDefault();
          location.hash = `#/key?${new URLSearchParams({ rule: ruleSelect.value, key: keyInput.value })}`;
        },
      },
      "rule ",
      ruleSelect,
      " key ",
      keyInput,
      el("button", { type: "submit" }, "Look up"),
    );
    const parts = [el("h2", {}, "Key"), lookup];
    if (rule && (object || value)) {
      const query = object
        ? `/counters?${new URLSearchParams({ rule, object })}`
        : `/keys?${new URLSearchParams({ rule, key: value })}`;
      const shown = object || value;
      try {
        const data = await json(query);
        const rows = data.limits.map((l) =>
          el(
            "tr",
            {},
            el("td", {}, el("code", {}, l.name)),
            el("td", { class: "num" }, String(l.limit)),
            el("td", { class: "num remaining" }, String(l.remaining)),
            el("td", {}, `in ${l.resetInSeconds} s (${new Date(l.reset * 1000).toLocaleTimeString()})`),
          ),
        );
        const reset = el(
          "button",
          {
            class: "danger",
            type: "button",
            id: "reset-key",
            onclick: async () => {
              if (!confirm(`Reset every counter of rule ${rule} for this key?`)) return;
              await json(query, { method: "DELETE" });
              render();
            },
          },
          "Reset counters",
        );
        parts.push(
          el(
            "p",
            {},
            "rule ",
            el("code", {}, rule),
            ", counter object ",
            el("code", { class: "key", id: "key-name" }, data.object || shown),
          ),
          el(
            "table",
            { id: "key-limits" },
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                el("th", {}, "limit"),
                el("th", { class: "num" }, "of"),
                el("th", { class: "num" }, "remaining"),
                el("th", {}, "full again"),
              ),
            ),
            el("tbody", {}, rows),
          ),
          el("div", { class: "row" }, reset),
        );
      } catch (e) {
        if (e instanceof TokenRefused) throw e;
        parts.push(
          el("p", {}, "key ", el("code", { class: "key", id: "key-name" }, shown)),
          el("p", { class: "error" }, e.message),
        );
      }
    }
    view.replaceChildren(el("div", { class: "card" }, parts));
  }

  // ---- policy -----------------------------------------------------------------------------------

  /** Side-by-side line diff (longest common subsequence). */
  function diffLines(a, b) {
    const n = a.length;
    const m = b.length;
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    const ops = [];
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) {
        ops.push(["same", a[i], b[j]]);
        i++;
        j++;
      } else if (j < m && (i === n || lcs[i][j + 1] > lcs[i + 1][j])) {
        ops.push(["add", null, b[j]]);
        j++;
      } else {
        ops.push(["del", a[i], null]);
        i++;
      }
    }
    // A run of removed lines followed by added ones is shown as changed lines, side by side.
    const out = [];
    for (let k = 0; k < ops.length; ) {
      if (ops[k][0] !== "del") {
        out.push(ops[k++]);
        continue;
      }
      const dels = [];
      while (k < ops.length && ops[k][0] === "del") dels.push(ops[k++][1]);
      const adds = [];
      while (k < ops.length && ops[k][0] === "add") adds.push(ops[k++][2]);
      for (let r = 0; r < Math.max(dels.length, adds.length); r++)
        out.push(["change", r < dels.length ? dels[r] : null, r < adds.length ? adds[r] : null]);
    }
    return out;
  }

  function diffView(a, b) {
    const grid = el("div", { class: "diff", id: "policy-diff" });
    for (const [kind, left, right] of diffLines(a.split("\n"), b.split("\n"))) {
      grid.append(
        el("pre", { class: left === null ? "gap" : kind === "same" ? "" : "del" }, left === null ? "" : left),
        el("pre", { class: right === null ? "gap" : kind === "same" ? "" : "add" }, right === null ? "" : right),
      );
    }
    return grid;
  }

  async function policyView() {
    const [current, history, ov] = await Promise.all([
      api("/policy").then((r) => r.text()),
      json("/policy/history"),
      json("/fleet/overview"),
    ]);
    const versions = history.versions;
    const status = el("p", { id: "policy-status", role: "status" });
    const rows = versions.map((v) =>
      el(
        "tr",
        { "data-version": v.version },
        el("td", { class: "num" }, `v${v.version}`),
        el("td", {}, v.at ? new Date(v.at).toLocaleString() : ""),
        el("td", {}, v.actor || ""),
        el("td", {}, v.how || ""),
        el(
          "td",
          {},
          v.version === ov.policy.version
            ? el("span", { class: "muted" }, "in force")
            : el(
                "button",
                {
                  type: "button",
                  class: "rollback",
                  onclick: async () => {
                    if (!confirm(`Put version ${v.version} back in force? It is published again as a new version.`))
                      return;
                    const r = await json("/policy/rollback", { method: "POST", json: { version: v.version } });
                    await render();
                    document.getElementById("policy-status").textContent =
                      `Version ${r.restored} is in force again as version ${r.version}.`;
                  },
                },
                "Roll back to this",
              ),
        ),
      ),
    );
    const options = (selected) =>
      versions.map((v) => el("option", { value: v.version, selected: v.version === selected }, `v${v.version}`));
    const left = el(
      "select",
      { id: "diff-left" },
      options(versions[1] ? versions[1].version : versions[0] ? versions[0].version : 0),
    );
    const right = el("select", { id: "diff-right" }, options(versions[0] ? versions[0].version : 0));
    const diffBox = el("div", {});
    const compare = async () => {
      const [a, b] = await Promise.all([json(`/policy/history/${left.value}`), json(`/policy/history/${right.value}`)]);
      diffBox.replaceChildren(
        el("div", { class: "diff" }, el("strong", {}, `v${a.version}`), el("strong", {}, `v${b.version}`)),
        diffView(a.text, b.text),
      );
    };
    const doc = el("textarea", { id: "validate-input", spellcheck: "false" });
    doc.value = current;
    const verdict = el("div", { id: "validate-result" });
    const validate = async () => {
      const res = await api("/policy/validate", {
        method: "POST",
        body: doc.value,
        headers: { "Content-Type": "application/json" },
      });
      const data = await res.json().catch(() => ({}));
      if (res.ok) verdict.replaceChildren(el("p", {}, `Valid: rules ${data.rules.join(", ")}.`));
      else
        verdict.replaceChildren(
          el("p", { class: "error" }, data.message || `${res.status}`),
          el(
            "ul",
            {},
            (data.errors || []).map((e) => el("li", {}, el("code", {}, e.path || "(document)"), ": ", e.message)),
          ),
        );
    };
    view.replaceChildren(
      el(
        "div",
        { class: "card" },
        el("h2", {}, "Policy"),
        el(
          "div",
          { class: "figures" },
          figure("version in force", ov.policy.version ? `v${ov.policy.version}` : "none published", "policy-version"),
          figure("published", ov.policy.version ? time(ov.policy.publishedAt) : "-"),
          figure("rules", ov.policy.rules.join(", ")),
        ),
        status,
      ),
      el(
        "div",
        { class: "card" },
        el("h3", {}, "History"),
        versions.length === 0
          ? el("p", { class: "muted" }, "Nothing published through the admin API yet.")
          : el(
              "table",
              { id: "policy-history" },
              el(
                "thead",
                {},
                el(
                  "tr",
                  {},
                  el("th", {}, "version"),
                  el("th", {}, "published"),
                  el("th", {}, "by"),
                  el("th", {}, "how"),
                  el("th", {}, ""),
                ),
              ),
              el("tbody", {}, rows),
            ),
      ),
      el(
        "div",
        { class: "card" },
        el("h3", {}, "Compare two versions"),
        el(
          "div",
          { class: "row" },
          left,
          " with ",
          right,
          el("button", { type: "button", id: "diff-button", onclick: compare }, "Compare"),
        ),
        diffBox,
      ),
      el(
        "div",
        { class: "card" },
        el("h3", {}, "Validate a document"),
        doc,
        el(
          "div",
          { class: "row" },
          el("button", { type: "button", id: "validate-button", onclick: validate }, "Validate"),
        ),
        verdict,
      ),
    );
  }

  // ---- tenants ----------------------------------------------------------------------------------

  async function tenantsView(params) {
    const search = params.get("search") || "";
    const data = await json(`/tenants?${new URLSearchParams({ search })}`);
    const input = el("input", { name: "search", value: search, placeholder: "tenant id contains" });
    view.replaceChildren(
      el(
        "div",
        { class: "card" },
        el("h2", {}, "Tenants"),
        el(
          "form",
          {
            class: "row",
            onsubmit: (e) => {
              e.preventDefault();
              location.hash = `#/tenants?${new URLSearchParams({ search: input.value })}`;
            },
          },
          input,
          el("button", { type: "submit" }, "Search"),
        ),
        data.tenants.length === 0
          ? el("p", { class: "muted" }, "No tenant matches.")
          : el(
              "table",
              { id: "tenants" },
              el(
                "thead",
                {},
                el("tr", {}, el("th", {}, "id"), el("th", {}, "tier"), el("th", {}, "sandbox"), el("th", {}, "record")),
              ),
              el(
                "tbody",
                {},
                data.tenants.map((t) =>
                  el(
                    "tr",
                    {},
                    el("td", { class: "key" }, t.id),
                    el("td", {}, t.tier || "(default)"),
                    el("td", {}, t.sandbox ? "yes" : "no"),
                    el("td", { class: "mono" }, t.key),
                  ),
                ),
              ),
            ),
        data.cursor ? el("p", { class: "muted" }, "More tenants exist: narrow the search.") : null,
      ),
    );
  }

  // ---- explain ----------------------------------------------------------------------------------

  async function explainView() {
    const method = el(
      "select",
      { id: "explain-method" },
      ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].map((m) => el("option", {}, m)),
    );
    const url = el("input", { id: "explain-url", size: 60, value: `${location.origin}/` });
    const headers = el("textarea", {
      id: "explain-headers",
      placeholder: "one header per line: Name: value\nCF-Connecting-IP: 203.0.113.7",
    });
    const out = el("div", { id: "explain-result" });
    const run = async (e) => {
      e.preventDefault();
      const h = {};
      for (const line of headers.value.split("\n")) {
        const i = line.indexOf(":");
        if (i > 0) h[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      try {
        const data = await json("/explain", {
          method: "POST",
          json: { method: method.value, url: url.value, headers: h },
        });
        out.replaceChildren(
          el(
            "p",
            {},
            `${data.method} `,
            el("code", {}, data.url),
            ` from ${data.client.ip}`,
            data.client.tenant ? ", tenant " : "",
            data.client.tenant ? el("code", {}, data.client.tenant) : "",
            `, tier ${data.client.tier}${data.client.sandbox ? ", sandbox" : ""}`,
          ),
          el(
            "table",
            {},
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                el("th", {}, "rule"),
                el("th", {}, "matches"),
                el("th", {}, "applies"),
                el("th", {}, "key"),
                el("th", {}, "what each limit would say"),
              ),
            ),
            el(
              "tbody",
              {},
              data.rules.map((r) =>
                el(
                  "tr",
                  { "data-rule": r.id },
                  el("td", {}, el("code", {}, r.id), ` ${r.action}${r.mode === "shadow" ? " (shadow)" : ""}`),
                  el("td", {}, r.matches ? "yes" : "no"),
                  el("td", {}, r.applies ? "yes" : "no"),
                  el("td", { class: "key mono" }, r.key || ""),
                  el(
                    "td",
                    {},
                    (r.limits || []).map((l) =>
                      el(
                        "div",
                        {},
                        el("code", {}, l.name),
                        `: ${l.remaining} of ${l.limit} left, `,
                        l.wouldAdmit
                          ? "would admit"
                          : el("strong", { class: "error" }, `would refuse (retry after ${l.retryAfterSeconds} s)`),
                      ),
                    ),
                  ),
                ),
              ),
            ),
          ),
        );
      } catch (err) {
        if (err instanceof TokenRefused) return;
        out.replaceChildren(el("p", { class: "error" }, err.message));
      }
    };
    view.replaceChildren(
      el(
        "div",
        { class: "card" },
        el("h2", {}, "Explain a request"),
        el("p", { class: "muted" }, "Which rules match and what each limit would say now. Nothing is counted."),
        el(
          "form",
          { onsubmit: run },
          el("div", { class: "row" }, method, url),
          headers,
          el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, "Explain")),
        ),
        out,
      ),
    );
  }

  // ---- routing ----------------------------------------------------------------------------------

  const VIEWS = {
    overview,
    "top-keys": topKeys,
    key: keyView,
    policy: policyView,
    tenants: tenantsView,
    explain: explainView,
  };

  async function render() {
    if (!token()) return showTokenForm("");
    form.hidden = true;
    nav.hidden = false;
    const hash = location.hash.replace(/^#\/?/, "");
    const q = hash.indexOf("?");
    const name = (q === -1 ? hash : hash.slice(0, q)) || "overview";
    const params = new URLSearchParams(q === -1 ? "" : hash.slice(q + 1));
    for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", a.getAttribute("href") === `#/${name}`);
    const show = VIEWS[name] || overview;
    document.body.dataset.view = "loading";
    try {
      await show(params);
      document.body.dataset.view = name;
    } catch (e) {
      if (e instanceof TokenRefused) return;
      view.replaceChildren(el("p", { class: "error" }, e.message));
      document.body.dataset.view = "error";
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim());
    try {
      await json("/fleet/overview");
    } catch (err) {
      if (!(err instanceof TokenRefused)) tokenError.textContent = err.message;
      return;
    }
    render();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenForm("");
  });
  window.addEventListener("hashchange", render);
  render();
})();
