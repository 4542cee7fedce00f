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
  // One colour per verdict (test/repo/console-asset.test.ts checks that every verdict has one).
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

  const whoami = document.getElementById("whoami");

  class TokenRefused extends Error {}

  // The token's name and role (`GET /whoami`), asked once per token: a read token's page offers no
  // button that changes state (the admin API would answer it 403).
  let me = null;

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
      me = null;
      whoami.textContent = "";
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

  // The verdicts whose client got a refusal (a 429 or a block's 403), among those the build writes in.
  const CLIENT_REFUSED = /^(refused|cached_refusal|blocked)$/;

  /** An axis label: the time, with the date when the chart spans a day (both ends would read the same time). */
  function axisLabel(ms, withDate) {
    const d = new Date(ms);
    return withDate
      ? d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })
      : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function chart(rule, rows, from, to, stepMinutes) {
    const withDate = to - from >= 12 * 3_600_000;
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
      svg("text", { x: 30, y: H - 2, "font-size": 10, fill: "#888", class: "axis-from" }, axisLabel(from, withDate)),
      svg(
        "text",
        { x: W - 10, y: H - 2, "font-size": 10, fill: "#888", "text-anchor": "end", class: "axis-to" },
        axisLabel(to, withDate),
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
    // Totals for the range, and the share refused (from the cache or blocked too: each client got a 429).
    let total = 0;
    let refused = 0;
    for (const [v, counts] of perVerdict) {
      const n = counts.reduce((a, b) => a + b, 0);
      total += n;
      if (CLIENT_REFUSED.test(v)) refused += n;
    }
    const ratio = total === 0 ? "0%" : `${((100 * refused) / total).toFixed(refused * 1000 < total ? 2 : 1)}%`;
    const card = el(
      "div",
      { class: "card chart", "data-rule": rule },
      el(
        "h3",
        {},
        "rule ",
        el("code", {}, rule),
        " ",
        el(
          "span",
          { class: "muted rule-totals" },
          `${total} requests, ${refused} refused (`,
          el("span", { class: "refused-ratio" }, ratio),
          ")",
        ),
      ),
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
    // Rules the policy in force no longer has are left out (their figures stay in /fleet/series).
    const inPolicy = new Set(p.rules);
    const gone = [...byRule.keys()].filter((r) => !inPolicy.has(r));
    for (const r of gone) byRule.delete(r);
    if (ov.statsConfigured && byRule.size === 0)
      charts.append(el("p", { class: "muted" }, "No decisions in this range."));
    for (const [rule, rows] of [...byRule.entries()].sort())
      charts.append(chart(rule, rows, series.from, series.to, series.stepMinutes));
    if (gone.length > 0)
      charts.append(
        el(
          "p",
          { class: "muted", id: "rules-gone" },
          `Not shown: ${gone.length} rule${gone.length === 1 ? "" : "s"} no longer in the policy (${gone.join(", ")}).`,
        ),
      );
    view.replaceChildren(head, range, charts);
  }

  // ---- top keys ---------------------------------------------------------------------------------

  /** A refused key by its label (what an operator reads: a user id, an email, a credential's hash prefix), its counting key beneath. */
  function keyLink(rule, key, label) {
    const q = new URLSearchParams({ rule, object: key, ...(label ? { label } : {}) });
    return [
      el("a", { href: `#/key?${q}`, class: "key mono key-label" }, label || key),
      label ? el("div", { class: "key mono muted counting-key" }, key) : null,
    ];
  }

  /** The latest threshold webhooks (rule thresholds) and how their delivery went. */
  function thresholdEvents(events) {
    const rows = events.map((e) =>
      el(
        "tr",
        { "data-event": e.event.id },
        el("td", {}, new Date(e.at).toISOString().replace("T", " ").slice(0, 19)),
        el("td", {}, el("code", {}, e.event.rule)),
        el("td", { class: "mono" }, e.event.label || e.event.key),
        el("td", { class: "num" }, `${Math.round(e.event.threshold * 100)}%`),
        el("td", { class: "num" }, `${e.event.count} / ${e.event.limit}`),
        el("td", {}, e.attempts > 1 ? `${e.outcome} (${e.attempts} attempts)` : e.outcome),
      ),
    );
    return el(
      "div",
      { class: "card" },
      el("h2", {}, "Threshold events"),
      rows.length === 0
        ? el("p", { class: "muted" }, "No threshold has fired yet.")
        : el(
            "table",
            { id: "threshold-events" },
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                ["at (UTC)", "rule", "key", "threshold", "count", "webhook"].map((h) => el("th", {}, h)),
              ),
            ),
            el("tbody", {}, rows),
          ),
    );
  }

  async function topKeys() {
    const [data, thresholds] = await Promise.all([
      json("/fleet/top-keys?minutes=15&limit=50"),
      json("/thresholds/events?limit=50").catch(() => ({ events: [] })),
    ]);
    const rows = data.keys.map((k) =>
      el(
        "tr",
        { "data-key": k.key },
        el("td", {}, el("code", {}, k.rule)),
        el("td", {}, keyLink(k.rule, k.key, k.label)),
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
      thresholdEvents(thresholds.events),
    );
  }

  // ---- one key ----------------------------------------------------------------------------------

  async function keyView(params) {
    const rule = params.get("rule") || "";
    const object = params.get("object");
    const label = params.get("label");
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
            el(
              "td",
              { class: "full-again" },
              l.remaining >= l.limit
                ? "full now"
                : `in ${l.resetInSeconds} s (${new Date(l.reset * 1000).toLocaleTimeString()})`,
            ),
          ),
        );
        const reset = el(
          "button",
          {
            class: "danger",
            type: "button",
            id: "reset-key",
            "data-write": true,
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
            label && object ? [", shown as ", el("code", { class: "key", id: "key-label" }, label)] : null,
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

  /** Per rule, the minutes' refused and total counts (an isolate's `/stats` minutes). */
  function refusalsPerRule(minutes) {
    const out = new Map();
    for (const m of minutes || [])
      for (const [rule, c] of Object.entries(m.rules)) {
        const t = out.get(rule) || { refused: 0, total: 0 };
        t.refused += (c.refused || 0) + (c.blocked || 0);
        t.total += Object.values(c).reduce((a, b) => a + b, 0);
        out.set(rule, t);
      }
    return out;
  }

  /** The candidate beside the live policy: its id, its would-refuse figures per rule, promote and drop. */
  async function candidateCard() {
    const res = await api("/policy/candidate");
    if (res.status === 404)
      return el(
        "div",
        { class: "card", id: "candidate" },
        el("h3", {}, "Candidate"),
        el("p", { class: "muted" }, "No candidate. Save the document above as one to see what it would refuse."),
      );
    const text = await res.text();
    const stats = await json("/stats");
    const live = refusalsPerRule(stats.minutes);
    const cand = refusalsPerRule(stats.candidate ? stats.candidate.minutes : []);
    const rules = [...new Set([...live.keys(), ...cand.keys()])].sort();
    const cell = (t) => (t ? `${t.refused} of ${t.total}` : "-");
    const status = el("p", { id: "candidate-status", role: "status" });
    return el(
      "div",
      { class: "card", id: "candidate" },
      el("h3", {}, "Candidate ", el("code", {}, stats.candidate ? stats.candidate.id : "(not evaluated yet)")),
      el("p", { class: "muted" }, "Refused per rule over the last 15 minutes, as this isolate saw them."),
      el(
        "table",
        { id: "candidate-figures" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", {}, "rule"),
            el("th", { class: "num" }, "live: refused"),
            el("th", { class: "num" }, "candidate: would refuse"),
          ),
        ),
        el(
          "tbody",
          {},
          rules.map((r) =>
            el(
              "tr",
              { "data-rule": r },
              el("td", {}, el("code", {}, r)),
              el("td", { class: "num live" }, cell(live.get(r))),
              el("td", { class: "num candidate" }, cell(cand.get(r))),
            ),
          ),
        ),
      ),
      el("details", {}, el("summary", {}, "Candidate document"), el("pre", { id: "candidate-text" }, text)),
      el(
        "div",
        { class: "row" },
        el(
          "button",
          {
            type: "button",
            class: "primary",
            id: "promote-candidate",
            "data-write": true,
            onclick: async () => {
              if (!confirm("Publish the candidate as the policy in force?")) return;
              const r = await json("/policy/promote", { method: "POST" });
              await render();
              document.getElementById("policy-status").textContent =
                `The candidate is in force as version ${r.version}.`;
            },
          },
          "Promote",
        ),
        el(
          "button",
          {
            type: "button",
            class: "danger",
            id: "drop-candidate",
            "data-write": true,
            onclick: async () => {
              if (!confirm("Drop the candidate?")) return;
              await json("/policy/candidate", { method: "DELETE" });
              await render();
            },
          },
          "Drop",
        ),
      ),
      status,
    );
  }

  async function policyView() {
    const [currentRes, history, ov] = await Promise.all([
      api("/policy"),
      json("/policy/history"),
      json("/fleet/overview"),
    ]);
    const current = await currentRes.text();
    // What If-Match names on publish: the document this page was loaded with.
    const etag = currentRes.headers.get("ETag");
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
                  "data-write": true,
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
    const changes = el("div", { id: "edit-diff" });
    const problemShown = (data, status) =>
      verdict.replaceChildren(
        el("p", { class: "error" }, data.message || `${status}`),
        el(
          "ul",
          {},
          (data.errors || []).map((e) => el("li", {}, el("code", {}, e.path || "(document)"), ": ", e.message)),
        ),
      );
    const validate = async () => {
      const res = await api("/policy/validate", {
        method: "POST",
        body: doc.value,
        headers: { "Content-Type": "application/json" },
      });
      const data = await res.json().catch(() => ({}));
      if (res.ok) verdict.replaceChildren(el("p", {}, `Valid: rules ${data.rules.join(", ")}.`));
      else problemShown(data, res.status);
      return res.ok;
    };
    const showChanges = () => {
      changes.replaceChildren(
        el("div", { class: "diff" }, el("strong", {}, "in force"), el("strong", {}, "edited")),
        diffView(current, doc.value),
      );
    };
    // Validate, show what changes, then publish only if nobody published meanwhile (If-Match).
    const publishEdited = async () => {
      if (!(await validate())) return;
      showChanges();
      if (!confirm("Publish this document as the policy in force?")) return;
      const res = await api("/policy", {
        method: "PUT",
        body: doc.value,
        headers: { "Content-Type": "application/json", ...(etag ? { "If-Match": etag } : {}) },
      });
      const data = await res.json().catch(() => ({}));
      if (res.status === 412) {
        verdict.replaceChildren(
          el(
            "p",
            { class: "error", id: "publish-conflict" },
            "Someone published since this page was loaded: nothing was stored. Reload the page, look at the new version, and edit again.",
          ),
        );
        return;
      }
      if (!res.ok) return problemShown(data, res.status);
      await render();
      document.getElementById("policy-status").textContent = `Published as version ${data.version}.`;
    };
    const saveCandidate = async () => {
      if (!(await validate())) return;
      const res = await api("/policy/candidate", {
        method: "PUT",
        body: doc.value,
        headers: { "Content-Type": "application/json" },
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) return problemShown(data, res.status);
      await render();
      document.getElementById("policy-status").textContent = `Saved as candidate ${data.candidate}.`;
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
        el("h3", {}, "Edit, validate and publish"),
        doc,
        el(
          "div",
          { class: "row" },
          el("button", { type: "button", id: "validate-button", onclick: validate }, "Validate"),
          el("button", { type: "button", id: "changes-button", onclick: showChanges }, "Show changes"),
          el(
            "button",
            { type: "button", class: "primary", id: "publish-button", "data-write": true, onclick: publishEdited },
            "Publish",
          ),
          el(
            "button",
            { type: "button", id: "candidate-button", "data-write": true, onclick: saveCandidate },
            "Save as candidate",
          ),
        ),
        verdict,
        changes,
      ),
      await candidateCard(),
    );
  }

  // ---- tenants ----------------------------------------------------------------------------------

  /**
   * Add a tenant (its API key, id, tier, sandbox, overrides) or edit one listed below (named by its
   * record's key, so the API key is not needed). The admin API checks the record against the policy.
   */
  function tenantForm(tiers) {
    const record = el("input", { type: "hidden", name: "record" });
    const apiKey = el("input", { name: "apiKey", placeholder: "API key (new tenants only)", autocomplete: "off" });
    const id = el("input", { name: "id", placeholder: "tenant id" });
    const tier = el(
      "select",
      { name: "tier" },
      el("option", { value: "" }, "(default tier)"),
      tiers.map((t) => el("option", { value: t }, t)),
    );
    const sandbox = el("input", { type: "checkbox", name: "sandbox" });
    const overrides = el("textarea", {
      name: "overrides",
      spellcheck: "false",
      placeholder: 'overrides, optional: {"api-1m": {"limit": 5000, "expires": "2030-01-01T00:00:00Z"}}',
    });
    const result = el("div", { id: "tenant-result" });
    const title = el("h3", {}, "Add a tenant");
    const form = el(
      "form",
      {
        id: "tenant-form",
        onsubmit: async (e) => {
          e.preventDefault();
          let parsedOverrides;
          try {
            parsedOverrides = overrides.value.trim() ? JSON.parse(overrides.value) : undefined;
          } catch (err) {
            result.replaceChildren(el("p", { class: "error" }, `overrides: not JSON (${err.message})`));
            return;
          }
          const body = {
            ...(record.value ? { key: record.value } : { apiKey: apiKey.value }),
            id: id.value,
            ...(tier.value ? { tier: tier.value } : {}),
            sandbox: sandbox.checked,
            ...(parsedOverrides ? { overrides: parsedOverrides } : {}),
          };
          const res = await api("/tenants", { method: "PUT", json: body });
          const data = await res.json().catch(() => ({}));
          if (!res.ok) {
            result.replaceChildren(
              el("p", { class: "error" }, data.message || `${res.status}`),
              el(
                "ul",
                {},
                (data.errors || []).map((x) => el("li", {}, el("code", {}, x.path || "(record)"), ": ", x.message)),
              ),
            );
            return;
          }
          const next = `#/tenants?${new URLSearchParams({ search: data.tenant.id, saved: data.tenant.id })}`;
          // The same hash again fires no hashchange: draw the list anew ourselves.
          if (location.hash === next) render();
          else location.hash = next;
        },
      },
      record,
      el("div", { class: "row" }, apiKey, id, tier, el("label", {}, sandbox, " sandbox")),
      overrides,
      el(
        "div",
        { class: "row" },
        el("button", { type: "submit", class: "primary", id: "tenant-save", "data-write": true }, "Save tenant"),
      ),
      result,
    );
    const edit = (t) => {
      title.textContent = `Edit tenant ${t.id}`;
      record.value = t.key;
      apiKey.value = "";
      apiKey.disabled = true;
      id.value = t.id;
      tier.value = t.tier || "";
      sandbox.checked = !!t.sandbox;
      overrides.value = t.overrides ? JSON.stringify(t.overrides, null, 2) : "";
      id.focus();
    };
    return { card: el("div", { class: "card" }, title, form), edit };
  }

  async function tenantsView(params) {
    const search = params.get("search") || "";
    const saved = params.get("saved");
    const [data, policyText] = await Promise.all([
      json(`/tenants?${new URLSearchParams({ search })}`),
      api("/policy").then((r) => r.text()),
    ]);
    let tiers = [];
    try {
      const doc = JSON.parse(policyText);
      tiers = [...new Set([doc.defaultTier, ...Object.keys(doc.tiers || {})].filter(Boolean))];
    } catch {
      // The page still lists tenants; the form offers the default tier only.
    }
    const editor = tenantForm(tiers);
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
                el(
                  "tr",
                  {},
                  el("th", {}, "id"),
                  el("th", {}, "tier"),
                  el("th", {}, "sandbox"),
                  el("th", {}, "overrides"),
                  el("th", {}, "record"),
                  el("th", {}, ""),
                ),
              ),
              el(
                "tbody",
                {},
                data.tenants.map((t) =>
                  el(
                    "tr",
                    { "data-tenant": t.id },
                    el("td", { class: "key" }, t.id),
                    el("td", {}, t.tier || "(default)"),
                    el("td", {}, t.sandbox ? "yes" : "no"),
                    el("td", { class: "mono overrides" }, t.overrides ? JSON.stringify(t.overrides) : ""),
                    el("td", { class: "mono" }, t.key),
                    el(
                      "td",
                      {},
                      el(
                        "button",
                        { type: "button", class: "edit-tenant", "data-write": true, onclick: () => editor.edit(t) },
                        "Edit",
                      ),
                    ),
                  ),
                ),
              ),
            ),
        data.cursor ? el("p", { class: "muted" }, "More tenants exist: narrow the search.") : null,
        saved ? el("p", { id: "tenant-saved", role: "status" }, `Saved tenant ${saved}.`) : null,
      ),
      editor.card,
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
                  el(
                    "td",
                    { class: "key mono" },
                    r.label || r.key || "",
                    r.label ? el("div", { class: "muted counting-key" }, r.key) : null,
                  ),
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
      await knowRole();
      await show(params);
      offerWritesByRole();
      document.body.dataset.view = name;
    } catch (e) {
      if (e instanceof TokenRefused) return;
      view.replaceChildren(el("p", { class: "error" }, e.message));
      document.body.dataset.view = "error";
    }
  }

  /** Who the token is: `GET /whoami`, once per token. An admin API without it (an older Worker) is taken as write. */
  async function knowRole() {
    if (me) return;
    const res = await api("/whoami");
    me = res.ok ? await res.json() : { name: "", role: "write" };
    whoami.textContent = me.name ? `${me.name} (${me.role === "read" ? "read only" : "read and write"})` : "";
  }

  /** With a read token: every button that changes state is disabled, and a note says why. */
  function offerWritesByRole() {
    if (me?.role !== "read") return;
    const writes = view.querySelectorAll("[data-write]");
    if (writes.length === 0) return;
    for (const b of writes) {
      b.disabled = true;
      b.title = "Needs a write token";
    }
    view.prepend(
      el(
        "p",
        { class: "note", id: "read-only-note", role: "note" },
        `The token "${me.name}" may only read: the buttons that change state are off. Sign in with a write token to use them.`,
      ),
    );
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim());
    me = null;
    try {
      await knowRole();
    } catch (err) {
      if (!(err instanceof TokenRefused)) tokenError.textContent = err.message;
      return;
    }
    render();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    whoami.textContent = "";
    showTokenForm("");
  });
  window.addEventListener("hashchange", render);
  render();
})();
