// The status page: signs the owner in (a cookie session), polls
// /status/data every two seconds, and turns two consecutive polls into
// rates and quantiles, as Prometheus' rate() and histogram_quantile() do.
"use strict";
(function () {
  const POLL_MS = 2000;
  const KEEP = 150; // points per chart: five minutes
  const $ = (id) => document.getElementById(id);
  let previous = null;
  let timer = null;
  const series = { t: [], rps: [], p50: [], p99: [], lag: [], pending: [] };
  const charts = {};

  function show(which) {
    for (const id of ["login", "message", "dashboard"]) $(id).hidden = id !== which;
    $("logout").hidden = which !== "dashboard";
  }

  function say(text) {
    $("message").textContent = text;
    show("message");
  }

  // The q-quantile of the requests between two cumulative bucket lists,
  // interpolated within its bucket; null when there were none.
  function quantile(q, bounds, now, before) {
    const counts = now.map((n, i) => n - (before ? before[i] : 0));
    const total = counts[counts.length - 1];
    if (!(total > 0)) return null;
    const rank = q * total;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] >= rank) {
        const low = i === 0 ? 0 : bounds[i - 1];
        const below = i === 0 ? 0 : counts[i - 1];
        const within = counts[i] - below;
        return within > 0 ? low + (bounds[i] - low) * ((rank - below) / within) : bounds[i];
      }
    }
    return bounds[bounds.length - 1];
  }

  function ms(seconds) {
    if (seconds === null) return "–";
    const v = seconds * 1000;
    return v < 10 ? v.toFixed(2) + " ms" : v < 1000 ? v.toFixed(0) + " ms" : (v / 1000).toFixed(2) + " s";
  }

  function duration(s) {
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + " " + units[i];
  }

  function state(el, text, good) {
    el.textContent = text;
    el.className = good ? "ok" : "bad";
  }

  // `scales` names each series' y scale; a second scale gets an axis on
  // the right (the lag in seconds beside the pending rows).
  function chart(id, labels, colors, scales) {
    const el = $(id);
    const names = scales || labels.map(() => "y");
    const axes = [{ stroke: "#888" }, { stroke: "#888", scale: names[0] }];
    const second = names.find((n) => n !== names[0]);
    if (second) axes.push({ stroke: "#888", scale: second, side: 1, grid: { show: false } });
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: 180,
      legend: { show: true },
      scales: { x: { time: true } },
      series: [{}].concat(labels.map((label, i) => ({
        label, scale: names[i], stroke: colors[i], width: 2, points: { show: false },
      }))),
      axes,
    };
    return new uPlot(opts, [[]].concat(labels.map(() => [])), el);
  }

  function push(key, value) {
    series[key].push(value);
    if (series[key].length > KEEP) series[key].shift();
  }

  function render(data) {
    const now = Date.parse(data.at) / 1000;
    const api = data.api;
    if (previous) {
      const dt = Math.max(0.001, now - previous.t);
      const requests = api.requests - previous.api.requests;
      const errors = api.errors - previous.api.errors;
      const rps = requests / dt;
      const p50 = quantile(0.5, api.bounds, api.buckets, previous.api.buckets);
      const p99 = quantile(0.99, api.bounds, api.buckets, previous.api.buckets);
      $("rps").textContent = rps.toFixed(rps < 10 ? 1 : 0);
      $("p50").textContent = ms(p50);
      $("p99").textContent = ms(p99);
      $("errors").textContent = requests > 0 ? ((100 * errors) / requests).toFixed(2) + " %" : "0 %";
      $("errors").className = "value " + (errors > 0 ? "bad" : "");
      push("t", now);
      push("rps", rps);
      push("p50", p50 === null ? null : p50 * 1000);
      push("p99", p99 === null ? null : p99 * 1000);
      push("lag", data.sync.lag_seconds);
      const p = data.sync.pending;
      push("pending", p.users + p.groups + p.tasks + p.webhooks);
      charts.rps.setData([series.t, series.rps]);
      charts.latency.setData([series.t, series.p50, series.p99]);
      charts.lag.setData([series.t, series.lag, series.pending]);
    }
    previous = { t: now, api };
    const sync = data.sync;
    const p = sync.pending;
    const pending = p.users + p.groups + p.tasks + p.webhooks;
    $("lag").textContent = duration(sync.lag_seconds);
    $("lag").className = "value " + (sync.lag_seconds > 1800 ? "bad" : "");
    $("pending").textContent = pending;
    $("pending-types").textContent =
      "users " + p.users + " · groups " + p.groups + " · tasks " + p.tasks + " · webhooks " + p.webhooks;
    state($("syncd"), sync.running ? (sync.healthy ? "running, healthy" : "running, unhealthy") : "not running",
      sync.running && sync.healthy);
    $("lease").textContent = sync.lease_holder || "nobody";
    $("token").textContent = sync.fencing_token === null || sync.fencing_token === undefined ? "–" : sync.fencing_token;
    const last = sync.last_result
      ? sync.last_result + (sync.last_sync ? " · " + sync.last_sync : "") + " · " + sync.last_rows + " rows" +
        (sync.last_error ? " · " + sync.last_error : "")
      : "none yet";
    state($("last-flush"), last, sync.last_result !== "error");
    state($("redis"), data.redis, data.redis === "connected");
    state($("postgres"), data.postgres, data.postgres === "connected");
    const rows = $("backups");
    rows.textContent = "";
    for (const b of data.backups) {
      const tr = document.createElement("tr");
      for (const text of [b.file, bytes(b.size_bytes), b.modified_at]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      rows.appendChild(tr);
    }
    if (!data.backups.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 3;
      td.textContent = "none";
      tr.appendChild(td);
      rows.appendChild(tr);
    }
    $("updated").textContent = "updated " + new Date(now * 1000).toLocaleTimeString();
    document.body.dataset.polls = String(Number(document.body.dataset.polls || "0") + 1);
  }

  async function poll() {
    let response;
    try {
      response = await fetch("/status/data", { credentials: "same-origin", cache: "no-store" });
    } catch (e) {
      $("updated").textContent = "cannot reach the api; retrying";
      return schedule();
    }
    if (response.status === 401) {
      stop();
      previous = null;
      return show("login");
    }
    if (response.status === 403) {
      stop();
      return say("This page shows the system's state to the owner only. Sign out and sign in as the owner.");
    }
    if (!response.ok) {
      $("updated").textContent = "the api answered " + response.status + "; retrying";
      return schedule();
    }
    const body = await response.json();
    if (!charts.rps) {
      show("dashboard");
      charts.rps = chart("chart-rps", ["req/s"], ["#0969da"]);
      charts.latency = chart("chart-latency", ["p50", "p99"], ["#1a7f37", "#cf222e"]);
      charts.lag = chart("chart-lag", ["lag s", "pending"], ["#9a6700", "#8250df"], ["s", "rows"]);
    }
    show("dashboard");
    render(body.data);
    schedule();
  }

  function schedule() {
    stop();
    timer = setTimeout(poll, POLL_MS);
  }

  function stop() {
    if (timer) clearTimeout(timer);
    timer = null;
  }

  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    const response = await fetch("/auth/login?cookie=true", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ login: $("login-name").value, password: $("login-password").value }),
    });
    if (!response.ok) {
      let text = "Sign-in failed (" + response.status + ")";
      try { text = (await response.json()).error || text; } catch (e) { /* keep the status */ }
      $("login-error").textContent = text;
      return;
    }
    $("login-password").value = "";
    poll();
  });

  $("logout").addEventListener("click", async (event) => {
    event.preventDefault();
    stop();
    // tm_csrf is the page's to read: a cookie-authenticated write repeats it.
    const csrf = (document.cookie.match(/(?:^|; )tm_csrf=([^;]*)/) || [])[1] || "";
    await fetch("/auth/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
    previous = null;
    show("login");
  });

  window.addEventListener("resize", () => {
    for (const [key, c] of Object.entries(charts)) {
      const el = $("chart-" + key);
      c.setSize({ width: Math.max(200, el.clientWidth), height: 180 });
    }
  });

  poll();
})();
