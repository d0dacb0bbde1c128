// imgpipe web page: presigned POST straight to S3, then poll the API for status and trace.
// Plain browser JS, no build step: config.json next to this file names the API.
"use strict";

const FINAL = new Set(["SUCCEEDED", "REJECTED", "FAILED"]);
const POLL_MS = 700;
let apiUrl = "";
let listCursor = null;

async function loadConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) apiUrl = ((await response.json()).apiUrl || "").replace(/\/$/, "");
  } catch (_) {
    // No config.json: the page is served by the API itself (imgpipe local up).
  }
  if (!apiUrl) apiUrl = window.location.origin;
  document.getElementById("api-url").textContent = `API ${apiUrl}`;
}

async function api(path, options = {}) {
  const response = await fetch(apiUrl + path, {
    ...options,
    headers: { "Content-Type": "application/json", ...(options.headers || {}) },
  });
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok && response.status !== 404) {
    const error = (body && body.error) || { code: String(response.status), message: text };
    throw new Error(`${error.code}: ${error.message}`);
  }
  return { status: response.status, body };
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
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

async function uploadFile(file) {
  const card = newCard(file);
  setStatus(card, "UPLOADING", `${formatBytes(file.size)}`);
  try {
    const { status, body } = await api("/uploads", {
      method: "POST",
      body: JSON.stringify({ filename: file.name, contentType: file.type, size: file.size }),
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

function showImage(card, image) {
  let detail = "";
  if (image.image) detail = `original ${image.image.width}×${image.image.height}`;
  if (image.rejection) detail = `${image.rejection.code}: ${image.rejection.message || ""}`;
  if (image.failure) detail = `${image.failure.error || "failed"}: ${image.failure.cause || ""}`;
  setStatus(card, image.status, detail);
  card.dataset.processingId = image.processingId || "";
  const box = card.querySelector(".variants");
  box.replaceChildren(
    ...(image.variants || []).map((v) =>
      el("figure", { className: "variant" }, [
        el("img", { src: v.url, alt: v.variant, loading: "lazy" }),
        el("figcaption", {
          textContent: `${v.variant} · ${v.width}×${v.height} · ${formatBytes(v.bytes)}`,
        }),
      ]),
    ),
  );
}

async function showTrace(card, id) {
  let status, body;
  // The record is final before the execution is: Notify still runs after it.
  for (let tries = 0; tries < 20; tries++) {
    ({ status, body } = await api(`/images/${id}/trace`));
    if (status !== 200) return;
    renderTrace(card, body);
    if (body.status !== "RUNNING") break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function renderTrace(card, body) {
  const states = body.states;
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
      return item;
    }),
  );
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
      const row = el("tr", {}, [
        el("td", { textContent: id }),
        el("td", {}, [el("span", { className: `badge ${image.status}`, textContent: image.status })]),
        el("td", { textContent: String(image.attempt || "") }),
        el("td", { textContent: String((image.variants || []).length) }),
        el("td", { textContent: image.updatedAt || "" }),
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
}

loadConfig().then(() => {
  wire();
  refreshList();
});
