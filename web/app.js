// imgpipe web page: presigned POST straight to S3, then poll the API for status and trace.
// Plain browser JS, no build step: config.json next to this file names the API.
"use strict";

const FINAL = new Set(["SUCCEEDED", "REJECTED", "FAILED"]);
const POLL_MS = 700;
let apiUrl = "";
let listCursor = null;
// The API's auth (config.json "auth": NONE, JWT, API_KEY or IAM) and the region IAM signatures name.
let authKind = "NONE";
let region = "us-east-1";
const STORE = { jwt: "imgpipe.jwt", aws: "imgpipe.aws", apiKey: "imgpipe.apikey" }; // sessionStorage: gone with the tab

async function loadConfig() {
  let config = {};
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) config = await response.json();
  } catch (_) {
    // No config.json: the page is served by the API itself (imgpipe local up).
  }
  apiUrl = (config.apiUrl || "").replace(/\/$/, "") || window.location.origin;
  authKind = String(config.auth || "NONE").toUpperCase();
  const match = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(apiUrl);
  region = config.region || (match && match[1]) || region;
  document.getElementById("api-url").textContent = `API ${apiUrl} · auth ${authKind}`;
  showAuthForm();
}

function showAuthForm() {
  const form = document.getElementById("auth");
  form.hidden = authKind === "NONE";
  document.getElementById("auth-jwt").hidden = authKind !== "JWT";
  document.getElementById("auth-iam").hidden = authKind !== "IAM";
  document.getElementById("auth-apikey").hidden = authKind !== "API_KEY";
  document.getElementById("api-key").value = sessionStorage.getItem(STORE.apiKey) || "";
  const aws = JSON.parse(sessionStorage.getItem(STORE.aws) || "{}");
  document.getElementById("jwt-token").value = sessionStorage.getItem(STORE.jwt) || "";
  document.getElementById("aws-key").value = aws.accessKeyId || "";
  document.getElementById("aws-secret").value = aws.secretAccessKey || "";
  document.getElementById("aws-token").value = aws.sessionToken || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(STORE.jwt, document.getElementById("jwt-token").value.trim());
    sessionStorage.setItem(STORE.apiKey, document.getElementById("api-key").value.trim());
    const creds = {
      accessKeyId: document.getElementById("aws-key").value.trim(),
      secretAccessKey: document.getElementById("aws-secret").value.trim(),
      sessionToken: document.getElementById("aws-token").value.trim(),
    };
    sessionStorage.setItem(STORE.aws, JSON.stringify(creds));
    document.getElementById("auth-state").textContent = "saved for this tab";
    refreshList();
  });
}

// -- auth: a bearer token (JWT) or a SigV4 signature for execute-api (IAM) -------------------

const encoder = new TextEncoder();

function toHex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text) {
  return toHex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

async function hmac(key, text) {
  const raw = typeof key === "string" ? encoder.encode(key) : key;
  const cryptoKey = await crypto.subtle.importKey(
    "raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(text)));
}

// RFC 3986 encoding of each path segment, as botocore signs execute-api paths.
function canonicalPath(pathname) {
  const strict = (part) =>
    encodeURIComponent(part).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return pathname.split("/").map(strict).join("/");
}

function canonicalQuery(search) {
  const pairs = search.replace(/^\?/, "").split("&").filter(Boolean).map((pair) => {
    const at = pair.indexOf("=");
    return at < 0 ? [pair, ""] : [pair.slice(0, at), pair.slice(at + 1)];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

async function sigv4(method, url, headers, body, creds) {
  const target = new URL(url);
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, "");
  const day = amzDate.slice(0, 8);
  const signed = { ...headers, host: target.host, "x-amz-date": amzDate };
  if (creds.sessionToken) signed["x-amz-security-token"] = creds.sessionToken;
  const names = Object.keys(signed).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(signed).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${String(lower[n]).trim().replace(/\s+/g, " ")}\n`).join("");
  const request = [
    method, canonicalPath(target.pathname), canonicalQuery(target.search),
    canonicalHeaders, names.join(";"), await sha256Hex(body || ""),
  ].join("\n");
  const scope = `${day}/${region}/execute-api/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256Hex(request)].join("\n");
  let key = await hmac(`AWS4${creds.secretAccessKey}`, day);
  for (const part of [region, "execute-api", "aws4_request"]) key = await hmac(key, part);
  const signature = toHex(await hmac(key, toSign));
  delete signed.host; // the browser sends Host itself, with the same value
  signed.Authorization =
    `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, ` +
    `SignedHeaders=${names.join(";")}, Signature=${signature}`;
  return signed;
}

async function authorize(method, url, headers, body) {
  if (authKind === "JWT") {
    const token = sessionStorage.getItem(STORE.jwt);
    return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
  }
  if (authKind === "API_KEY") {
    const key = sessionStorage.getItem(STORE.apiKey);
    return key ? { ...headers, "x-api-key": key } : headers;
  }
  if (authKind === "IAM") {
    const creds = JSON.parse(sessionStorage.getItem(STORE.aws) || "null");
    if (creds && creds.accessKeyId && creds.secretAccessKey) {
      return sigv4(method, url, headers, body, creds);
    }
  }
  return headers;
}

async function api(path, options = {}) {
  const method = options.method || "GET";
  const headers = await authorize(
    method,
    apiUrl + path,
    { "Content-Type": "application/json", ...(options.headers || {}) },
    options.body || "",
  );
  const response = await fetch(apiUrl + path, { ...options, method, headers });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = null;
  }
  if (!response.ok && response.status !== 404) {
    // API Gateway's own refusals (auth, quotas) are {"message"}; the function's are {"error"}.
    const error = (body && body.error) || {
      code: String(response.status),
      message: (body && body.message) || text,
    };
    const hint = response.status === 401 || response.status === 403 ? ` (auth ${authKind})` : "";
    throw new Error(`${error.code}: ${error.message}${hint}`);
  }
  return { status: response.status, body };
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

// "2 min ago": what a person reads; the exact time stays in the title (hover).
function timeAgo(iso, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days < 30) return `${days} d ago`;
  return new Date(iso).toLocaleDateString();
}

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

// -- one upload ----------------------------------------------------------------------------

function newCard(file) {
  const fragment = document.getElementById("card-template").content.cloneNode(true);
  const card = fragment.querySelector(".card");
  card.querySelector(".name").textContent = file.name;
  document.getElementById("uploads").prepend(card);
  return card;
}

function setStatus(card, status, detail = "") {
  const badge = card.querySelector(".status");
  badge.textContent = status;
  badge.className = `status badge ${status}`;
  card.dataset.status = status;
  card.querySelector(".detail").textContent = detail;
}

// Browsers without a HEIF codec report HEIC files as type "": name them from the extension.
const TYPE_BY_EXTENSION = { heic: "image/heic", heif: "image/heif", avif: "image/avif" };

function contentTypeOf(file) {
  return file.type || TYPE_BY_EXTENSION[file.name.split(".").pop().toLowerCase()] || "";
}

async function uploadFile(file) {
  const card = newCard(file);
  setStatus(card, "UPLOADING", `${formatBytes(file.size)}`);
  try {
    const { status, body } = await api("/uploads", {
      method: "POST",
      body: JSON.stringify({ filename: file.name, contentType: contentTypeOf(file), size: file.size }),
    });
    if (status !== 201) throw new Error(`presign failed (${status})`);
    card.dataset.uploadId = body.uploadId;
    const form = new FormData();
    for (const [name, value] of Object.entries(body.upload.fields)) form.append(name, value);
    form.append("file", file); // S3 requires the file to be the last field
    const sent = await fetch(body.upload.url, { method: "POST", body: form });
    if (!sent.ok) {
      const code = new DOMParser()
        .parseFromString(await sent.text(), "application/xml")
        .querySelector("Code");
      throw new Error(`S3 refused the upload: ${code ? code.textContent : sent.status}`);
    }
    await follow(card, body.uploadId);
  } catch (error) {
    setStatus(card, "ERROR", error.message);
  }
  refreshList();
}

async function follow(card, id) {
  for (;;) {
    const { status, body } = await api(`/images/${id}`);
    if (status === 200) {
      showImage(card, body);
      if (FINAL.has(body.status)) break;
    } else {
      setStatus(card, "PENDING", "waiting for the upload to arrive");
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  await showTrace(card, id);
}

// -- placeholders: ThumbHash (the format imgpipe_core.imaging.placeholder writes) -----------

function thumbHashPixels(hash) {
  const h24 = hash[0] | (hash[1] << 8) | (hash[2] << 16);
  const h16 = hash[3] | (hash[4] << 8);
  const hasAlpha = h24 >> 23;
  const landscape = h16 >> 15;
  const limit = hasAlpha ? 5 : 7;
  const [sx, sy] = landscape ? [limit, h16 & 7] : [h16 & 7, limit];
  const [lx, ly] = [Math.max(3, sx), Math.max(3, sy)];
  let pos = 0;
  const start = hasAlpha ? 6 : 5;
  const channel = (nx, ny, scale) => {
    const out = [];
    for (let cy = 0; cy < ny; cy++)
      for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++, pos++)
        out.push([cx, cy, (((hash[start + (pos >> 1)] >> ((pos & 1) << 2)) & 15) / 7.5 - 1) * scale]);
    return out;
  };
  const dc = [(h24 & 63) / 63, ((h24 >> 6) & 63) / 31.5 - 1, ((h24 >> 12) & 63) / 31.5 - 1,
    hasAlpha ? (hash[5] & 15) / 15 : 1];
  const ac = [channel(lx, ly, ((h24 >> 18) & 31) / 31), channel(3, 3, (((h16 >> 3) & 63) / 63) * 1.25),
    channel(3, 3, (((h16 >> 9) & 63) / 63) * 1.25), hasAlpha ? channel(5, 5, (hash[5] >> 4) / 15) : []];
  const ratio = sx / sy;
  const w = Math.round(ratio > 1 ? 32 : 32 * ratio), h = Math.round(ratio > 1 ? 32 / ratio : 32);
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = 0, i = 0; y < h; y++)
    for (let x = 0; x < w; x++, i += 4) {
      const [l, p, q, a] = dc.map((value, c) => ac[c].reduce((sum, [cx, cy, f]) =>
        sum + f * Math.cos((Math.PI / w) * (x + 0.5) * cx) * 2 * Math.cos((Math.PI / h) * (y + 0.5) * cy), value));
      const b = l - (2 / 3) * p, r = (3 * l - b + q) / 2;
      rgba.set([r, r - q, b, a].map((v) => Math.round(255 * v)), i);
    }
  return { w, h, rgba };
}

function placeholderStyle(placeholder) {
  if (!placeholder) return "";
  try {
    const { w, h, rgba } = thumbHashPixels(Uint8Array.from(atob(placeholder.thumbhash), (c) => c.charCodeAt(0)));
    const canvas = document.createElement("canvas");
    [canvas.width, canvas.height] = [w, h];
    canvas.getContext("2d").putImageData(new ImageData(rgba, w, h), 0, 0);
    return `background: ${placeholder.dominant_colour} url(${canvas.toDataURL()}) center / cover no-repeat`;
  } catch {
    return `background: ${placeholder.dominant_colour}`;
  }
}

function showImage(card, image) {
  let detail = "";
  if (image.image) detail = `original ${image.image.width}×${image.image.height}`;
  if (image.rejection) detail = `${image.rejection.code}: ${image.rejection.message || ""}`;
  if (image.failure) detail = `${image.failure.error || "failed"}: ${image.failure.cause || ""}`;
  setStatus(card, image.status, detail);
  card.dataset.processingId = image.processingId || "";
  const box = card.querySelector(".variants");
  // The placeholder shows until each variant has loaded (then the image covers it).
  const behind = placeholderStyle(image.image && image.image.placeholder);
  const figures = (image.variants || []).map((v) => {
    const img = el("img", { src: v.url, alt: v.variant, loading: "lazy" });
    img.setAttribute("style", behind);
    img.addEventListener("load", () => img.removeAttribute("style"), { once: true });
    return el("figure", { className: "variant" }, [
      img,
      el("figcaption", {
        textContent: `${v.variant} · ${v.width}×${v.height} · ${formatBytes(v.bytes)}`,
      }),
    ]);
  });
  if (image.responsive) {
    figures.push(
      el("details", { className: "picture" }, [
        el("summary", { textContent: "<picture> snippet" }),
        el("pre", { textContent: image.responsive.picture }),
      ]),
    );
  }
  box.replaceChildren(...figures);
}

async function showTrace(card, id) {
  let status, body;
  // The record is final before the execution is: Notify still runs after it.
  for (let tries = 0; tries < 20; tries++) {
    ({ status, body } = await api(`/images/${id}/trace`));
    // Below ExecutionLogLevel=ALL an Express execution may have no log events: say so.
    if (status === 404 && body && body.error && body.error.code === "EXECUTION_NOT_LOGGED") {
      renderNote(card, body.error.message);
      return;
    }
    // The log query did not answer in time (TRACE_UNAVAILABLE): ask again.
    if (status === 503) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      continue;
    }
    if (status !== 200) return;
    renderTrace(card, body);
    if (body.status !== "RUNNING") break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function renderNote(card, text) {
  const note = el("li", { className: "span note", textContent: text });
  card.querySelector(".spans").replaceChildren(note);
  card.querySelector(".timeline").hidden = false;
}

function renderTrace(card, body) {
  const states = body.states;
  if (!states.length) {
    // ExecutionLogLevel=FATAL logs only the execution's end: its error is all there is.
    const ended = body.error ? `${body.status}: ${body.error}: ${body.cause || ""}` : body.status;
    return renderNote(card, `${ended} (no state events logged at ExecutionLogLevel=${body.logLevel})`);
  }
  const t0 = Math.min(...states.map((s) => Date.parse(s.start)));
  const t1 = Math.max(...states.map((s) => Date.parse(s.end || s.start)));
  const total = Math.max(1, t1 - t0);
  const list = card.querySelector(".spans");
  list.replaceChildren(
    ...states.map((s) => {
      const left = ((Date.parse(s.start) - t0) / total) * 100;
      const width = s.durationMs == null ? 100 - left : (s.durationMs / total) * 100;
      const bar = el("span", { className: "bar" });
      bar.style.left = `${left}%`;
      bar.style.width = `${width}%`;
      const timing = s.durationMs == null ? "running" : `${s.durationMs} ms`;
      const retries = s.retries ? ` · ${s.retries} retr${s.retries === 1 ? "y" : "ies"}` : "";
      const item = el("li", { className: "span" }, [
        el("span", { className: "label", textContent: s.name, title: s.type }),
        el("span", { className: "track" }, [bar]),
        el("span", { className: "timing", textContent: timing + retries }),
      ]);
      if (s.parent) item.classList.add("nested");
      if (s.error) {
        item.classList.add("failed");
        item.append(el("span", { className: "error", textContent: `${s.error}: ${s.cause || ""}` }));
      }
      // What the state handed on: the variables it assigned (values in the tooltip).
      if (s.assigned) {
        const names = Object.keys(s.assigned);
        item.append(
          el("span", {
            className: "assigned",
            textContent: `assigned ${names.map((n) => "$" + n).join(", ")}`,
            title: JSON.stringify(s.assigned, null, 1),
          }),
        );
      }
      return item;
    }),
  );
  if (body.logLevel && body.logLevel !== "ALL") {
    const note = `ExecutionLogLevel=${body.logLevel}: only failure events were logged`;
    list.append(el("li", { className: "span note", textContent: note }));
  }
  card.querySelector(".timeline").hidden = false;
}

// -- recent images ---------------------------------------------------------------------------

async function refreshList(append = false) {
  const status = document.getElementById("status-filter").value;
  const params = new URLSearchParams({ limit: "20" });
  if (status) params.set("status", status);
  if (append && listCursor) params.set("cursor", listCursor);
  const tbody = document.querySelector("#recent tbody");
  try {
    const { body } = await api(`/images?${params}`);
    listCursor = body.cursor || null;
    const rows = body.items.map((image) => {
      const id = image.uploadId || image.processingId;
      const rerun = el("button", { type: "button", textContent: "Re-run", className: "rerun" });
      rerun.addEventListener("click", async () => {
        const { body: result } = await api(`/images/${id}/rerun`, { method: "POST" });
        rerun.textContent = result.started ? "Started" : "Already running";
        setTimeout(() => refreshList(), 1500);
      });
      const thumb = (image.variants || []).find((v) => v.variant === "thumbnail");
      const name = image.filename || (image.sourceKey || "").split("/").pop() || id;
      const row = el("tr", {}, [
        el("td", { className: "image" }, [
          thumb
            ? el("img", { className: "thumb", src: thumb.url, alt: "", loading: "lazy" })
            : el("span", { className: "thumb empty" }),
          el("span", { className: "filename", textContent: name, title: id }),
        ]),
        el("td", {}, [el("span", { className: `badge ${image.status}`, textContent: image.status })]),
        el("td", { textContent: String(image.attempt || "") }),
        el("td", { textContent: String((image.variants || []).length) }),
        el("td", {}, [
          el("time", {
            className: "when",
            dateTime: image.updatedAt || "",
            title: image.updatedAt ? new Date(image.updatedAt).toLocaleString() : "",
            textContent: image.updatedAt ? timeAgo(image.updatedAt) : "",
          }),
        ]),
        el("td", {}, [rerun]),
      ]);
      row.dataset.id = id;
      return row;
    });
    if (append) tbody.append(...rows);
    else tbody.replaceChildren(...rows);
    document.getElementById("more").hidden = !listCursor;
  } catch (error) {
    tbody.replaceChildren(el("tr", {}, [el("td", { colSpan: 6, textContent: error.message })]));
  }
}

// -- backfill ----------------------------------------------------------------------------------

async function startBackfill(event) {
  event.preventDefault();
  const box = document.getElementById("backfill-progress");
  const text = box.querySelector(".backfill-text");
  const since = document.getElementById("backfill-since").value;
  const variants = document
    .getElementById("backfill-variants")
    .value.split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  const request = { statuses: [document.getElementById("backfill-status").value], variants };
  if (since) request.since = new Date(since).toISOString();
  box.hidden = false;
  try {
    const { body } = await api("/backfills", { method: "POST", body: JSON.stringify(request) });
    followBackfill(body.backfillId);
  } catch (error) {
    text.textContent = error.message;
  }
}

async function followBackfill(id) {
  const box = document.getElementById("backfill-progress");
  const bar = box.querySelector("progress");
  const text = box.querySelector(".backfill-text");
  for (;;) {
    const { body } = await api(`/backfills/${id}`);
    const done = body.succeeded + body.failed;
    bar.max = Math.max(body.total, 1);
    bar.value = body.status === "SUCCEEDED" && body.total === 0 ? 1 : done;
    const failed = body.failed ? `, ${body.failed} failed` : "";
    text.textContent = `${id}: ${body.status} ${done}/${body.total}${failed}`;
    box.dataset.status = body.status;
    if (body.status !== "RUNNING") return;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// -- wiring ------------------------------------------------------------------------------------

function wire() {
  const input = document.getElementById("file");
  input.addEventListener("change", () => {
    for (const file of input.files) uploadFile(file);
    input.value = "";
  });
  const drop = document.getElementById("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    for (const file of event.dataTransfer.files) uploadFile(file);
  });
  document.getElementById("status-filter").addEventListener("change", () => refreshList());
  document.getElementById("refresh").addEventListener("click", () => refreshList());
  document.getElementById("more").addEventListener("click", () => refreshList(true));
  document.getElementById("backfill-form").addEventListener("submit", startBackfill);
}

loadConfig().then(() => {
  wire();
  refreshList();
});
