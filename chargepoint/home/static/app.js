// Live status page: one EventSource, no polling. Renders state, keeps the last hour for the charts,
// sends settings and commands through the local API.
"use strict";
(function () {
  const HOUR = 3600;
  let samples = [];
  let latest = null;
  let formDirty = false;
  let sourceFailed = false;
  const $ = (id) => document.getElementById(id);

  function fmtA(a) { return (a === null || a === undefined) ? "–" : Number(a).toFixed(1) + " A"; }
  function fmtDuration(s) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    return (h ? h + " h " : "") + m + " min " + (h ? "" : sec + " s");
  }
  function text(el, value) { if (el.textContent !== value) el.textContent = value; }

  async function send(method, url, body) {
    const init = { method: method, headers: {} };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const r = await fetch(url, init);
    let doc = null;
    try { doc = await r.json(); } catch (e) { doc = null; }
    if (!r.ok) { throw new Error((doc && doc.error) || ("HTTP " + r.status)); }
    return doc;
  }

  function say(msg, bad) { const el = $("settings-result"); el.textContent = msg; el.className = bad ? "bad" : ""; }

  // ---------------------------------------------------------------- connectors
  function connectorCard(id) {
    let card = document.querySelector('[data-connector="' + id + '"]');
    if (card) return card;
    const tpl = $("connector-template").content.firstElementChild.cloneNode(true);
    tpl.dataset.connector = String(id);
    tpl.setAttribute("aria-labelledby", "h-c" + id);
    const title = tpl.querySelector(".c-title");
    title.id = "h-c" + id;
    title.textContent = "Connector " + id;
    tpl.querySelector(".c-chart").setAttribute("aria-label", "Chart of the last hour of connector " + id +
      ": offered, drawn and limit current");
    $("connectors").appendChild(tpl);
    return tpl;
  }

  function renderFaults(card, c) {
    const dd = card.querySelector(".c-faults");
    const key = c.faults.join(",") + "|" + c.resettable_faults.join(",");
    if (dd.dataset.key === key) return;
    dd.dataset.key = key;
    dd.replaceChildren();
    if (!c.faults.length) { dd.textContent = "none"; dd.className = "c-faults"; return; }
    dd.className = "c-faults fault";
    c.faults.forEach(function (f) {
      const span = document.createElement("span");
      span.textContent = f + " ";
      dd.appendChild(span);
      if (c.resettable_faults.indexOf(f) >= 0) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "secondary";
        b.textContent = "Reset " + f;
        b.setAttribute("aria-label", "Reset fault " + f + " on connector " + c.id);
        b.addEventListener("click", async function () {
          try { await send("POST", "/api/connectors/" + c.id + "/reset-fault", { fault: f }); }
          catch (e) { say("Reset " + f + ": " + e.message, true); }
        });
        dd.appendChild(b);
      }
    });
  }

  function renderConnector(c) {
    const card = connectorCard(c.id);
    const iec = card.querySelector(".c-iec");
    text(iec, c.iec_state + " (" + c.substate + ") – " + c.state_name);
    iec.className = "c-iec state-" + c.iec_state;
    text(card.querySelector(".c-status"), c.status + (c.transaction_id ? " · transaction " + c.transaction_id : ""));
    text(card.querySelector(".c-offered"), fmtA(c.offered_current_a) + " × " + c.phases + " phase" +
      (c.phases === 1 ? "" : "s"));
    text(card.querySelector(".c-actual"), c.current_a.map(function (a) { return Number(a).toFixed(1); }).join(" / ") + " A");
    const lim = c.limits[c.binding_limit];
    text(card.querySelector(".c-binding"), c.binding_limit + (lim !== undefined ? " (" + fmtA(lim) + ")" : ""));
    text(card.querySelector(".c-session"), (c.session_energy_wh / 1000).toFixed(2) + " kWh · " +
      fmtDuration(c.session_duration_s));
    renderFaults(card, c);
    drawChart(card.querySelector(".c-chart"), c.id - 1);
  }

  // ---------------------------------------------------------------- chart
  function drawChart(canvas, index) {
    const ratio = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 640, cssH = Math.round(cssW * 0.32) || 200;
    if (canvas.width !== Math.round(cssW * ratio)) { canvas.width = Math.round(cssW * ratio); canvas.height = Math.round(cssH * ratio); }
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const W = cssW, H = cssH, left = 34, right = 6, top = 6, bottom = 18;
    ctx.clearRect(0, 0, W, H);
    const now = latest ? latest.time : Date.now() / 1000;
    const pts = samples.filter(function (s) { return s.t >= now - HOUR && s.c[index]; });
    let ymax = 16;
    pts.forEach(function (s) { const r = s.c[index]; ymax = Math.max(ymax, r[0], r[1], r[2] || 0); });
    ymax = Math.ceil(ymax / 8) * 8;
    const x = function (t) { return left + (W - left - right) * (1 - (now - t) / HOUR); };
    const y = function (a) { return top + (H - top - bottom) * (1 - a / ymax); };
    ctx.strokeStyle = "#c9ced6"; ctx.fillStyle = "#4a5260"; ctx.lineWidth = 1; ctx.font = "11px system-ui, sans-serif";
    for (let a = 0; a <= ymax; a += ymax / 4) {
      ctx.beginPath(); ctx.moveTo(left, y(a)); ctx.lineTo(W - right, y(a)); ctx.stroke();
      ctx.fillText(String(Math.round(a)), 4, y(a) + 4);
    }
    [60, 45, 30, 15, 0].forEach(function (m) { ctx.fillText(m ? "-" + m + "m" : "now", Math.min(x(now - m * 60) - 10, W - 26), H - 4); });
    function line(col, color, dash) {
      ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.setLineDash(dash);
      ctx.beginPath();
      let started = false;
      pts.forEach(function (s) {
        const v = s.c[index][col];
        if (v === null || v === undefined) { started = false; return; }
        const vy = y(Math.min(v, ymax));
        if (!started) { ctx.moveTo(x(s.t), vy); started = true; } else { ctx.lineTo(x(s.t), vy); }
      });
      ctx.stroke(); ctx.setLineDash([]);
    }
    line(2, "#a4161a", [2, 3]);
    line(0, "#0b5cad", []);
    line(1, "#0f6b2f", [6, 3]);
  }

  // ---------------------------------------------------------------- station and settings
  function fillSelect(sel, choices, valueKey, labelKey) {
    if (sel.options.length === choices.length) return;
    sel.replaceChildren();
    choices.forEach(function (c) { const o = document.createElement("option"); o.value = String(c[valueKey]); o.textContent = c[labelKey]; sel.appendChild(o); });
  }

  const FIELDS = ["override_current_a", "max_mains_a", "max_circuit_a", "max_sum_mains_a", "start_current_a",
    "stop_time_min", "import_current_a"];

  function renderSettings(st) {
    fillSelect($("mode"), st.mode.choices, "id", "name");
    fillSelect($("enable_c2"), st.enable_c2_choices, "value", "name");
    const ov = $("override_current_a");
    ov.min = String(st.min_current_a); ov.max = String(st.max_current_a);
    if (formDirty) return;
    $("mode").value = String(st.mode.id);
    $("enable_c2").value = st.settings.enable_c2;
    FIELDS.forEach(function (f) { const v = st.settings[f]; $(f).value = (v === null || v === undefined) ? "" : String(v); });
  }

  function render(st) {
    latest = st;
    text($("cp-id"), st.id);
    document.title = st.id + " – charge point status";
    const ocpp = st.ocpp;
    text($("ocpp"), !ocpp.enabled ? "not configured" : (ocpp.connected ? "connected" : "disconnected") +
      (ocpp.csms_url ? " · " + ocpp.csms_url : ""));
    text($("registration"), String(ocpp.registration));
    text($("mqtt"), st.mqtt.status + (st.mqtt.topic_prefix ? " · " + st.mqtt.topic_prefix : ""));
    text($("backend"), st.backend);
    text($("explanation"), st.mode.name + " mode" + (st.energy.explanation ? " · " + st.energy.explanation : "") +
      (st.energy.faults.length ? " · faults: " + st.energy.faults.join(", ") : ""));
    st.connectors.forEach(renderConnector);
    renderSettings(st);
    if (st.backend === "sim") {
      $("sim").hidden = false;
      fillSelect($("sim-connector"), st.connectors.map(function (c) { return { id: c.id, name: "Connector " + c.id }; }), "id", "name");
    }
  }

  async function saveSettings(ev) {
    ev.preventDefault();
    const body = { enable_c2: $("enable_c2").value };
    FIELDS.forEach(function (f) {
      const raw = $(f).value.trim();
      if (f === "override_current_a") { body[f] = raw === "" ? null : Number(raw); } else { body[f] = Number(raw); }
    });
    try {
      const mode = Number($("mode").value);
      const modeAnswer = await send("POST", "/settings?mode=" + mode);
      if (!modeAnswer || String(modeAnswer.mode) !== String(mode)) throw new Error("mode refused");
      const current = latest && latest.settings;
      if (current && current.mode === "solar" && body.override_current_a === null) { delete body.override_current_a; }
      await send("POST", "/api/settings", body);
      formDirty = false;
      say("Saved.", false);
    } catch (e) { say("Not saved: " + e.message, true); }
  }

  function sim(path, body) {
    return async function () {
      try { await send("POST", path.replace("{id}", $("sim-connector").value), body ? body() : {}); }
      catch (e) { say("Simulator: " + e.message, true); }
    };
  }

  function connect() {
    const es = new EventSource("/api/events");
    es.addEventListener("open", function () { sourceFailed = false; const l = $("link"); l.textContent = "live"; l.className = "pill ok"; });
    es.addEventListener("error", function () {
      if (!sourceFailed) { sourceFailed = true; const l = $("link"); l.textContent = "reconnecting…"; l.className = "pill bad"; }
    });
    es.addEventListener("history", function (e) { samples = JSON.parse(e.data).samples; });
    es.addEventListener("sample", function (e) {
      const s = JSON.parse(e.data);
      samples.push(s);
      const cut = s.t - HOUR;
      while (samples.length && samples[0].t < cut) samples.shift();
    });
    es.addEventListener("state", function (e) { render(JSON.parse(e.data)); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("settings-form").addEventListener("input", function () { formDirty = true; });
    // a field the user is in is being edited: a live update must not write over it (clearing a field
    // fires no "input"; an update landing between clear and typing turned 20 into 2520)
    $("settings-form").addEventListener("focusin", function () { formDirty = true; });
    // the browser refuses a value out of range without a word: say which field
    $("settings-form").addEventListener("invalid", function (e) {
      const label = document.querySelector('label[for="' + e.target.id + '"]');
      say("Not saved: " + (label ? label.textContent : e.target.id) + ": " + e.target.validationMessage, true);
    }, true);
    $("settings-form").addEventListener("submit", saveSettings);
    $("sim-plug").addEventListener("click", sim("/api/sim/connectors/{id}/plug"));
    $("sim-unplug").addEventListener("click", sim("/api/sim/connectors/{id}/unplug"));
    $("sim-card").addEventListener("click", sim("/api/sim/rfid", function () {
      return { id_tag: $("sim-tag").value, connector: Number($("sim-connector").value) };
    }));
    window.addEventListener("resize", function () { if (latest) latest.connectors.forEach(renderConnector); });
    connect();
  });
})();
