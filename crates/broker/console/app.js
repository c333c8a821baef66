// The Sluice console: a read-only view of the cluster, drawn from the JSON under /api/v1/.
// Plain JavaScript, no libraries. Text from the cluster (topic names, keys, values) is only ever
// set as text (textContent), never parsed as HTML.
"use strict";

/** How often a page re-reads what it shows. */
var REFRESH_MS = 5000;
/** How often the live view samples, and how many samples its charts keep. */
var LIVE_INTERVAL_MS = 2000;
var LIVE_SAMPLES = 90;
var PALETTE = ["#1f6feb", "#d9480f", "#2b8a3e", "#9c36b5", "#e67700", "#0b7285", "#c2255c", "#5c940d"];

var timer = null;
var generation = 0;

function el(tag, attrs, children) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) {
    if (k === "text") node.textContent = attrs[k];
    else if (k === "class") { if (attrs[k]) node.className = attrs[k]; }
    else if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
  });
  (children || []).forEach(function (c) {
    node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  });
  return node;
}

function svg(tag, attrs) {
  var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
  return node;
}

function show(v) { return v === null || v === undefined ? "–" : String(v); }

function badge(kind, value) {
  return el("span", { class: "badge " + kind + "-" + String(value).replace(/ /g, "-"), text: value });
}

function table(id, headers, rows) {
  var head = el("tr", {}, headers.map(function (h) {
    return el("th", { text: h.replace(/^#/, ""), class: h.charAt(0) === "#" ? "num" : null });
  }));
  return el("table", { id: id }, [el("thead", {}, [head]), el("tbody", {}, rows)]);
}

function cell(value, cls) {
  if (value instanceof Node) return el("td", { class: cls || null }, [value]);
  return el("td", { text: show(value), class: cls || null });
}

function link(href, text) { return el("a", { href: href, text: text }); }

function api(path) {
  return fetch("/api/v1/" + path, { headers: { Accept: "application/json" } }).then(function (r) {
    return r.json().catch(function () { return { error: "HTTP " + r.status }; }).then(function (body) {
      if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
      return body;
    });
  });
}

function setError(message) {
  var box = document.getElementById("error");
  box.textContent = message || "";
  box.hidden = !message;
}

/** A page to draw: pages return one, and it is drawn only if it is still the page asked for. */
function page(title, children) { return { title: title, children: children }; }

function render(title, children) {
  var view = document.getElementById("view");
  view.textContent = "";
  view.appendChild(el("h1", { text: title }));
  children.forEach(function (c) { view.appendChild(c); });
}

// ---- pages ----------------------------------------------------------------------------------

function overview() {
  return api("cluster").then(function (c) {
    document.getElementById("whoami").textContent =
      "broker " + c.this_broker + (c.cluster_id ? " · cluster " + c.cluster_id : "");
    var summary = el("dl", { class: "summary", id: "summary" }, [
      ["brokers up", c.brokers.filter(function (b) { return b.status === "up"; }).length, "brokers-up"],
      ["brokers down", c.brokers.filter(function (b) { return b.status === "down"; }).length, "brokers-down"],
      ["topics", c.topics, "topics"],
      ["partitions", c.partitions, "partitions"],
      ["under-replicated", c.under_replicated_partitions, "under-replicated"],
      ["offline", c.offline_partitions, "offline"],
    ].map(function (f) {
      return el("div", { "data-field": f[2] }, [el("dt", { text: f[0] }), el("dd", { text: show(f[1]) })]);
    }));
    var brokers = c.brokers.map(function (b) {
      return el("tr", { "data-broker-id": b.id, "data-status": b.status, class: b.status === "down" ? "down" : null }, [
        cell(b.id, "num"),
        cell(b.host === null ? null : b.host + ":" + b.port),
        cell(b.rack),
        cell(badge("status", b.status)),
        cell(b.id === c.controller ? "controller" : ""),
        cell(b.leaders, "num"),
        cell(b.replicas, "num"),
      ]);
    });
    var keepers = c.keepers.map(function (k) {
      return el("tr", { "data-keeper": k.address, "data-state": k.state }, [
        cell(k.address), cell(badge("state", k.state)), cell(k.znodes, "num"), cell(k.connections, "num"),
        cell(k.embedded ? "in this broker" : ""),
      ]);
    });
    return page("Cluster", [
      summary,
      el("h2", { text: "Brokers" }),
      table("brokers", ["#id", "address", "rack", "status", "role", "#leaders", "#replicas"], brokers),
      el("h2", { text: "Keeper" }),
      table("keepers", ["address", "role", "#znodes", "#connections", ""], keepers),
    ]);
  });
}

function topicsPage() {
  return api("topics").then(function (topics) {
    var rows = topics.map(function (t) {
      var cls = t.offline > 0 ? "offline" : t.under_replicated > 0 ? "under-replicated" : null;
      return el("tr", { "data-topic": t.name, class: cls }, [
        cell(link("#/topic/" + encodeURIComponent(t.name), t.name)),
        cell(t.internal ? "internal" : ""),
        cell(t.partitions, "num"), cell(t.replication_factor, "num"),
        cell(t.under_replicated, "num"), cell(t.offline, "num"), cell(t.records, "num"), cell(t.log_end, "num"),
      ]);
    });
    return page("Topics", [table("topics",
      ["topic", "", "#partitions", "#replication", "#under-replicated", "#offline", "#records", "#log end"], rows)]);
  });
}

function topicPage(name) {
  return api("topics/" + encodeURIComponent(name)).then(function (t) {
    var rows = t.partitions.map(function (p) {
      return el("tr", { "data-partition": p.partition, "data-status": p.status,
                        class: p.status === "ok" ? null : p.status }, [
        cell(p.partition, "num"), cell(p.leader, "num"), cell(p.leader_epoch, "num"),
        cell(p.replicas.join(", ")), cell(p.isr.join(", ")),
        cell(p.offline_replicas.length ? p.offline_replicas.join(", ") : ""),
        cell(badge("status", p.status)), cell(p.log_start, "num"), cell(p.log_end, "num"),
        cell(link("#/browse?topic=" + encodeURIComponent(t.name) + "&partition=" + p.partition, "browse")),
      ]);
    });
    var configs = t.configs.map(function (c) {
      if (c.error) return el("tr", {}, [cell("cannot read the configs: " + c.error)]);
      return el("tr", { "data-config": c.name, class: c.override ? "override" : null },
        [cell(c.name), cell(c.value), cell(c.source)]);
    });
    return page("Topic " + t.name, [
      el("h2", { text: "Partitions" }),
      table("partitions", ["#partition", "#leader", "#epoch", "replicas", "ISR", "down", "status", "#log start",
                           "#log end", ""], rows),
      el("h2", { text: "Configs" }),
      el("p", { class: "muted", text: "Values set on the topic are bold." }),
      table("configs", ["name", "value", "source"], configs),
    ]);
  });
}

function groupsPage() {
  return api("groups").then(function (g) {
    var rows = g.groups.map(function (x) {
      return el("tr", { "data-group": x.group }, [
        cell(link("#/group/" + encodeURIComponent(x.group), x.group)), cell(badge("state", x.state || "?")),
        cell(x.protocol_type), cell(x.coordinator, "num"), cell(x.members, "num"), cell(x.partitions, "num"),
        cell(x.lag, "num"),
      ]);
    });
    var parts = [table("groups", ["group", "state", "type", "#coordinator", "#members", "#partitions", "#lag"], rows)];
    if (g.unreachable_brokers.length) {
      parts.unshift(el("p", { class: "muted", text: "Brokers not answering (their groups are missing): " +
                                                      g.unreachable_brokers.join(", ") }));
    }
    return page("Consumer groups", parts);
  });
}

function groupPage(id) {
  return api("groups/" + encodeURIComponent(id)).then(function (g) {
    var members = g.members.map(function (m) {
      return el("tr", { "data-member": m.member_id }, [
        cell(m.member_id), cell(m.client_id), cell(m.host),
        cell(m.assignment.map(function (a) { return a.topic + "-" + a.partition; }).join(", ")),
      ]);
    });
    var offsets = g.offsets.map(function (o) {
      return el("tr", { "data-topic": o.topic, "data-partition": o.partition }, [
        cell(o.topic), cell(o.partition, "num"), cell(o.committed, "num"), cell(o.log_end, "num"),
        cell(o.lag, "num"), cell(o.owner),
      ]);
    });
    var summary = el("dl", { class: "summary", id: "summary" }, [
      ["state", g.state, "state"], ["protocol", g.protocol || "–", "protocol"], ["coordinator", g.coordinator, "coordinator"],
      ["members", g.members.length, "members"], ["lag", g.lag, "lag"],
    ].map(function (f) {
      return el("div", { "data-field": f[2] }, [el("dt", { text: f[0] }), el("dd", { text: show(f[1]) })]);
    }));
    return page("Group " + g.group, [
      summary,
      el("h2", { text: "Members" }),
      table("members", ["member", "client id", "host", "assigned"], members),
      el("h2", { text: "Offsets and lag" }),
      table("offsets", ["topic", "#partition", "#committed", "#log end", "#lag", "owner"], offsets),
    ]);
  });
}

// ---- live view ------------------------------------------------------------------------------

var live = { samples: [] };

function chart(id, title, series, unit) {
  var width = 640, height = 200, pad = 36;
  var box = svg("svg", { id: id, class: "chart", width: width, height: height, viewBox: "0 0 " + width + " " + height,
                         role: "img", "aria-label": title });
  var names = Object.keys(series).sort();
  var max = 1;
  names.forEach(function (n) { series[n].forEach(function (v) { if (v > max) max = v; }); });
  box.appendChild(svg("line", { x1: pad, y1: height - pad, x2: width - 8, y2: height - pad, stroke: "#999" }));
  var top = svg("text", { x: 4, y: 14, "font-size": 11, fill: "#555" });
  top.textContent = max.toFixed(max < 10 ? 1 : 0) + " " + unit;
  box.appendChild(top);
  var legend = el("ul", { class: "legend", id: id + "-legend" });
  names.forEach(function (n, i) {
    var values = series[n];
    var color = PALETTE[i % PALETTE.length];
    var step = (width - pad - 8) / Math.max(LIVE_SAMPLES - 1, 1);
    var x0 = width - 8 - step * (values.length - 1);
    var points = values.map(function (v, j) {
      return (x0 + j * step).toFixed(1) + "," + (height - pad - (v / max) * (height - pad - 20)).toFixed(1);
    }).join(" ");
    box.appendChild(svg("polyline", { points: points, fill: "none", stroke: color, "stroke-width": 2,
                                      "data-series": n }));
    var swatch = el("span", { class: "swatch" });
    swatch.style.background = color;
    var last = values.length ? values[values.length - 1] : 0;
    legend.appendChild(el("li", { "data-series": n }, [swatch, n + ": " + last.toFixed(1)]));
  });
  return el("div", {}, [el("h2", { text: title }), box, legend]);
}

function liveSample() {
  return Promise.all([api("topics"), api("groups")]).then(function (answers) {
    var ends = {}, lags = {};
    answers[0].forEach(function (t) { if (!t.internal && t.log_end !== null) ends[t.name] = t.log_end; });
    answers[1].groups.forEach(function (g) { if (g.lag !== null) lags[g.group] = g.lag; });
    live.samples.push({ at: Date.now(), ends: ends, lags: lags });
    if (live.samples.length > LIVE_SAMPLES + 1) live.samples.shift();
    var rates = {}, lagSeries = {};
    for (var i = 1; i < live.samples.length; i++) {
      var a = live.samples[i - 1], b = live.samples[i], seconds = Math.max((b.at - a.at) / 1000, 0.001);
      Object.keys(b.ends).forEach(function (t) {
        var rate = a.ends[t] === undefined ? 0 : Math.max(b.ends[t] - a.ends[t], 0) / seconds;
        (rates[t] = rates[t] || []).push(rate);
      });
    }
    live.samples.forEach(function (s) {
      Object.keys(s.lags).forEach(function (g) { (lagSeries[g] = lagSeries[g] || []).push(s.lags[g]); });
    });
    var rows = Object.keys(rates).sort().map(function (t) {
      var r = rates[t];
      return el("tr", { "data-topic": t }, [cell(t), cell(r[r.length - 1].toFixed(1), "num"), cell(ends[t], "num")]);
    });
    return page("Live", [
      el("p", { class: "muted", text: "Sampled every " + LIVE_INTERVAL_MS / 1000 + " s in this browser (" +
                                      live.samples.length + " samples)." }),
      chart("chart-throughput", "Records per second by topic", rates, "rec/s"),
      chart("chart-lag", "Consumer lag by group", lagSeries, "records"),
      table("rates", ["topic", "#records/s", "#log end"], rows),
    ]);
  });
}

// ---- message browser ------------------------------------------------------------------------

function decodeBase64(text) {
  var raw = atob(text), bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function hex(bytes) {
  var out = [];
  for (var i = 0; i < bytes.length; i++) out.push((bytes[i] < 16 ? "0" : "") + bytes[i].toString(16));
  return out.join(" ");
}

/** A key, value or header value as text, hex or JSON (pretty-printed when it parses as JSON, as
 * text otherwise; as hex, marked so, when it is not UTF-8). */
function formatField(field, format) {
  if (field === null) return "null";
  var bytes = decodeBase64(field.base64), text = null;
  if (format !== "hex") {
    try { text = new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch (e) { text = null; }
  }
  if (text === null) text = hex(bytes) + (format === "hex" ? "" : "  (not UTF-8: hex)");
  else if (format === "json") {
    try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* shown as text */ }
  }
  if (field.truncated) text += " … (" + field.size + " bytes, cut)";
  return text;
}

function parseParams(query) {
  var params = {};
  (query || "").split("&").forEach(function (kv) {
    if (!kv) return;
    var i = kv.indexOf("=");
    params[decodeURIComponent(i < 0 ? kv : kv.slice(0, i))] = decodeURIComponent(i < 0 ? "" : kv.slice(i + 1));
  });
  return params;
}

function browsePage(query) {
  var params = parseParams(query);
  var format = params.format || "text";
  return api("topics").then(function (topics) {
    var select = el("select", { id: "browse-topic", name: "topic" }, topics.map(function (t) {
      var option = el("option", { value: t.name, text: t.name });
      if (t.name === params.topic) option.selected = true;
      return option;
    }));
    var formats = el("select", { id: "browse-format", name: "format" }, ["text", "hex", "json"].map(function (f) {
      var option = el("option", { value: f, text: f });
      if (f === format) option.selected = true;
      return option;
    }));
    var form = el("form", { class: "browse", id: "browse-form" }, [
      el("label", {}, ["topic", select]),
      el("label", {}, ["partition", el("input", { id: "browse-partition", name: "partition", type: "number", min: 0,
                                                  value: params.partition || "0" })]),
      el("label", {}, ["offset (number, earliest, latest)", el("input", { id: "browse-offset", name: "offset",
                                                  value: params.offset || "earliest" })]),
      el("label", {}, ["records", el("input", { id: "browse-limit", name: "limit", type: "number", min: 1, max: 100,
                                                value: params.limit || "20" })]),
      el("label", {}, ["show as", formats]),
      el("button", { id: "browse-go", type: "submit", text: "Read" }),
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var q = ["topic", "partition", "offset", "limit", "format"].map(function (k) {
        return k + "=" + encodeURIComponent(form.elements[k].value);
      }).join("&");
      location.hash = "#/browse?" + q;
    });
    var parts = [form];
    if (!params.topic) {
      return page("Messages", parts);
    }
    var q = "topic=" + encodeURIComponent(params.topic) + "&partition=" + encodeURIComponent(params.partition || "0") +
            "&offset=" + encodeURIComponent(params.offset || "earliest") +
            "&limit=" + encodeURIComponent(params.limit || "20");
    return api("messages?" + q).then(function (m) {
      var rows = m.records.map(function (r) {
        var headers = r.headers.map(function (h) { return h.key + ": " + formatField(h.value, format); }).join("\n");
        return el("tr", { "data-offset": r.offset }, [
          cell(r.offset, "num"), cell(new Date(r.timestamp).toISOString()),
          cell(formatField(r.key, format), "bytes"), cell(formatField(r.value, format), "bytes"),
          cell(headers, "bytes"),
        ]);
      });
      parts.push(el("p", { class: "muted", id: "browse-range", text: m.topic + "-" + m.partition + ": offsets " +
        m.log_start + " to " + m.log_end + "; " + m.records.length + " records from " + m.from }));
      parts.push(table("records", ["#offset", "timestamp", "key", "value", "headers"], rows));
      return page("Messages", parts);
    });
  });
}

// ---- routing --------------------------------------------------------------------------------

function route() {
  var hash = location.hash.replace(/^#/, "") || "/";
  var q = hash.indexOf("?");
  var path = q < 0 ? hash : hash.slice(0, q), query = q < 0 ? "" : hash.slice(q + 1);
  var parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  var load, nav = "none", refresh = REFRESH_MS;
  if (parts.length === 0) { load = overview; nav = "overview"; }
  else if (parts[0] === "topics") { load = topicsPage; nav = "topics"; }
  else if (parts[0] === "topic" && parts.length === 2) { load = function () { return topicPage(parts[1]); }; nav = "topics"; }
  else if (parts[0] === "groups") { load = groupsPage; nav = "groups"; }
  else if (parts[0] === "group" && parts.length === 2) { load = function () { return groupPage(parts[1]); }; nav = "groups"; }
  else if (parts[0] === "live") { load = liveSample; nav = "live"; refresh = LIVE_INTERVAL_MS; live.samples = []; }
  else if (parts[0] === "browse") { load = function () { return browsePage(query); }; nav = "browse"; refresh = 0; }
  else { load = function () { return page("Not found", [el("p", { text: "No page " + hash })]); }; refresh = 0; }
  Array.prototype.forEach.call(document.querySelectorAll("nav a"), function (a) {
    a.className = a.getAttribute("data-nav") === nav ? "active" : "";
  });
  var mine = ++generation;
  if (timer) clearTimeout(timer);
  function tick() {
    Promise.resolve().then(load).then(function (drawn) {
      if (mine !== generation) return;
      render(drawn.title, drawn.children);
      setError("");
      document.body.setAttribute("data-page", nav);
    }, function (e) {
      if (mine === generation) setError(e.message);
    }).then(function () {
      if (mine === generation && refresh > 0) timer = setTimeout(tick, refresh);
    });
  }
  tick();
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", function () {
  api("cluster").then(function (c) {
    document.getElementById("whoami").textContent =
      "broker " + c.this_broker + (c.cluster_id ? " · cluster " + c.cluster_id : "");
  }, function () {});
  route();
});
