// factory-ai console: live line view, review keyboard, and actions. Plain JavaScript, no build.
"use strict";

function toast(text) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), 3000);
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "Accept": "application/json"},
    body: JSON.stringify(body || {}),
  });
  if (response.status === 401) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
    throw new Error("log in first");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    toast(data.detail || ("failed: HTTP " + response.status));
    throw new Error(data.detail || response.status);
  }
  return data;
}

// Images: the heatmap overlay when the daemon still has it, else the image, else a note.
function imageFallback(img) {
  img.addEventListener("error", () => {
    const next = img.dataset.fallback;
    if (next) {
      img.removeAttribute("data-fallback");
      img.src = next;
    } else {
      const note = document.createElement("div");
      note.className = "placeholder";
      note.textContent = "image not kept";
      img.replaceWith(note);
    }
  });
}

// -- line view ----------------------------------------------------------------------------------
function percent(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"; }

async function refreshStats() {
  const response = await fetch("/console/line-stats", {credentials: "same-origin"});
  if (!response.ok) return;
  const stats = await response.json();
  for (const name of ["hour", "shift"]) {
    const box = document.querySelector(`.stat[data-window="${name}"]`);
    if (!box) continue;
    const s = stats[name];
    box.querySelector('[data-field="yield"]').textContent = percent(s.yield);
    box.querySelector('[data-field="total"]').textContent = s.total;
    for (const v of ["pass", "reject", "review", "error"]) {
      box.querySelector(`[data-field="${v}"]`).textContent = s.counts[v] || 0;
    }
  }
}

function liveCard(event) {
  const card = document.createElement("article");
  card.className = `card v-${event.verdict} new`;
  card.dataset.seq = event.seq;
  const img = document.createElement("img");
  img.alt = event.source;
  img.dataset.fallback = `/console/recent/${event.seq}/image`;
  imageFallback(img);
  img.src = `/console/recent/${event.seq}/overlay`;
  const meta = document.createElement("div");
  meta.className = "meta";
  const verdict = document.createElement("span");
  verdict.className = "verdict";
  verdict.textContent = event.verdict;
  const time = (event.ts || "").slice(11, 19);
  const name = (event.source || "").split("/").pop();
  const confidence = event.confidence === null || event.confidence === undefined ? "–" : event.confidence.toFixed(2);
  meta.append(verdict, ` ${event.label || event.error || ""} `);
  const conf = document.createElement("span");
  conf.className = "muted";
  conf.textContent = confidence;
  const small = document.createElement("small");
  small.className = "muted";
  small.textContent = `${time} · ${event.line || "–"} · ${name}`;
  meta.append(conf);
  if (event.score !== null && event.score !== undefined) {
    const score = document.createElement("span");
    score.className = "score";
    score.title = "calibrated anomaly score; 1.00 is the threshold";
    score.textContent = ` score ${event.score.toFixed(2)} / 1.00`;
    meta.append(score);
  }
  meta.append(document.createElement("br"), small);
  if (document.body.dataset.writes === "1") {
    const flag = document.createElement("button");
    flag.className = "flag";
    flag.dataset.seq = event.seq;
    flag.textContent = "flag";
    meta.append(flag);
  }
  card.append(img, meta);
  return card;
}

function startLine() {
  const cards = document.getElementById("cards");
  const state = document.getElementById("live-state");
  const max = parseInt(cards.dataset.max, 10) || 24;
  let pending = null;
  const source = new EventSource("/console/stream");
  source.onopen = () => { state.textContent = "● live"; state.className = "ok"; };
  source.onerror = () => { state.textContent = "reconnecting…"; state.className = "muted"; };
  source.addEventListener("inspection", (message) => {
    const event = JSON.parse(message.data);
    document.getElementById("no-cards")?.remove();
    cards.prepend(liveCard(event));
    while (cards.children.length > max) cards.lastElementChild.remove();
    clearTimeout(pending);
    pending = setTimeout(refreshStats, 500);
  });
  setInterval(refreshStats, 30000);
}

// -- review queue -------------------------------------------------------------------------------
function startReview() {
  const items = () => Array.from(document.querySelectorAll("#queue .item"));
  const selected = () => document.querySelector("#queue .item.selected");
  function select(item) {
    items().forEach((i) => i.classList.toggle("selected", i === item));
    if (item) item.scrollIntoView({block: "nearest"});
  }
  async function label(item, value) {
    await post(`/console/review/${item.dataset.id}`, {label: value});
    toast(`labelled ${value}`);
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    select(next && next.classList.contains("item") ? next : null);
  }
  document.getElementById("queue")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const item = e.target.closest(".item");
    const name = e.target.querySelector("input[name=type]").value.trim();
    if (item && name) label(item, name).catch(() => {});
  });
  document.getElementById("queue")?.addEventListener("click", (e) => {
    const item = e.target.closest(".item");
    if (!item) return;
    select(item);
    if (e.target.closest("form.new-type")) return;
    const button = e.target.closest("button.label");
    if (button) label(item, button.dataset.label).catch(() => {});
  });
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input, textarea")) return;
    const item = selected();
    const list = items();
    const at = list.indexOf(item);
    if (e.key === "ArrowDown" || e.key === "j") { select(list[Math.min(at + 1, list.length - 1)]); e.preventDefault(); }
    else if (e.key === "ArrowUp" || e.key === "k") { select(list[Math.max(at - 1, 0)]); e.preventDefault(); }
    else if (item) {
      const button = item.querySelector(`button.label[data-key="${e.key}"]`);
      if (button) { label(item, button.dataset.label).catch(() => {}); e.preventDefault(); }
    }
  });
}

// -- everywhere ---------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("img[data-fallback]").forEach(imageFallback);
  document.body.addEventListener("click", (e) => {
    const flag = e.target.closest("button.flag");
    if (flag) {
      const body = flag.dataset.id ? {id: parseInt(flag.dataset.id, 10)} : {seq: parseInt(flag.dataset.seq, 10)};
      post("/console/flag", body).then(() => {
        const note = document.createElement("small");
        note.className = "flagged";
        note.textContent = "flagged";
        flag.replaceWith(note);
        toast("flagged for review");
      }).catch(() => {});
    }
    const action = e.target.closest("button.alert-action");
    if (action) {
      post(`/console/alerts/${action.dataset.id}/${action.dataset.action}`).then((done) => {
        const row = action.closest("tr");
        row.querySelector(".status").textContent = done.status;
        row.className = row.className.replace(/st-\w+/, `st-${done.status}`);
        row.querySelectorAll("button.alert-action").forEach((b) => {
          if (done.status === "resolved" || b.dataset.action === "acknowledge") b.remove();
        });
        toast(`alert ${done.status}`);
      }).catch(() => {});
    }
  });
  const page = document.body.dataset.page;
  if (page === "line") startLine();
  if (page === "review") startReview();
});
