// fer-app's live view, in the browser: the camera picture plays at its own rate; one frame at a
// time goes to the server (live/frame) and each answer is drawn over the picture: a box, the
// smoothed label and a bar per emotion for every face, and a timeline of the last 30 s per face.
// Only one frame is ever in flight, so a slow server means fewer frames, never a growing delay.
// Run by Gradio's HTML component with `element` bound to the component's root.
const $ = (id) => element.querySelector(`#${id}`);
const video = $("live-video"), overlay = $("live-overlay"), strip = $("live-timeline");
const stats = $("live-stats"), saved = $("live-saved");
const MAX_WIDTH = 640, TIMELINE_S = 30;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
const session = Math.random().toString(36).slice(2, 12);
let stream = null, running = false, t0 = 0, history = [], done = [], last = null;

async function start() {
  if (running) return;
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}});
  } catch (e) {
    stats.textContent = `No camera: ${e.message}`;
    return;
  }
  video.srcObject = stream;
  await video.play();
  running = true;
  t0 = performance.now();
  history = []; done = [];
  element.dataset.state = "running";
  $("live-start").disabled = true; $("live-stop").disabled = false;
  loop();
}

function stop() {
  running = false;
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  element.dataset.state = "stopped";
  $("live-start").disabled = false; $("live-stop").disabled = true;
}

async function loop() {
  const canvas = document.createElement("canvas");
  while (running) {
    if (!video.videoWidth) { await new Promise((r) => setTimeout(r, 20)); continue; }
    const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    const captured = performance.now();
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    const jpeg = await new Promise((r) => canvas.toBlob(r, "image/jpeg", 0.85));
    const smoothing = parseFloat($("live-smoothing").value) || 0;
    const t = (captured - t0).toFixed(1);
    let answer;
    try {
      const response = await fetch(`live/frame?session=${session}&t=${t}&smoothing=${smoothing}`,
        {method: "POST", body: jpeg, headers: {"Content-Type": "image/jpeg"}});
      answer = await response.json();
      if (!response.ok) throw new Error(answer.detail || response.statusText);
    } catch (e) {
      stats.textContent = `Server error: ${e.message}`;
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    if (answer.busy) { await new Promise((r) => setTimeout(r, 15)); continue; }
    if (!running) break;
    draw(answer);
    const now = performance.now();
    done.push({at: now, latency: now - captured, server: answer.ms});
    done = done.filter((d) => now - d.at <= 3000);
    show(answer);
  }
}

function draw(answer) {
  overlay.width = video.clientWidth; overlay.height = video.clientHeight;
  const k = overlay.width / answer.width; // frame pixels -> displayed pixels
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const useSmoothed = $("live-smoothed").checked;
  const now = (performance.now() - t0) / 1000;
  for (const face of answer.faces) {
    const p = useSmoothed ? face.smoothed : face.probs;
    const label = useSmoothed ? face.label_smoothed : face.label;
    const [x1, y1, x2, y2] = face.box.map((v) => v * k);
    ctx.strokeStyle = "#00dc00"; ctx.lineWidth = 2;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.font = "14px sans-serif"; ctx.fillStyle = "#00dc00";
    ctx.fillText(`#${face.id} ${label} ${Math.round(100 * Math.max(...p))}%`, x1, Math.max(y1 - 6, 14));
    const bx = Math.min(x2 + 6, overlay.width - 158);
    answer.classes.forEach((name, i) => {
      const y = y1 + i * 15;
      ctx.fillStyle = "rgba(0,0,0,0.6)"; ctx.fillRect(bx, y, 156, 13);
      ctx.fillStyle = COLORS[i % COLORS.length]; ctx.fillRect(bx + 56, y + 2, 70 * p[i], 9);
      ctx.fillStyle = "#fff"; ctx.font = "10px sans-serif"; ctx.fillText(name, bx + 2, y + 10);
      ctx.fillText(`${Math.round(100 * p[i])}%`, bx + 130, y + 10);
    });
    history.push({t: now, id: face.id, p: face.smoothed});
  }
  history = history.filter((h) => now - h.t <= TIMELINE_S);
  timeline(answer.classes, now);
  last = answer;
}

function timeline(classes, now) {
  const ids = [...new Set(history.map((h) => h.id))].slice(-3);
  const rowH = 80;
  strip.width = strip.clientWidth || 640; strip.height = rowH * Math.max(ids.length, 1);
  strip.style.height = `${strip.height}px`;
  const ctx = strip.getContext("2d");
  ctx.fillStyle = "#181818"; ctx.fillRect(0, 0, strip.width, strip.height);
  ids.forEach((id, row) => {
    const top = row * rowH, mine = history.filter((h) => h.id === id);
    ctx.fillStyle = "#ccc"; ctx.font = "11px sans-serif";
    ctx.fillText(`face #${id}, last ${TIMELINE_S} s`, 6, top + 12);
    classes.forEach((name, i) => {
      ctx.strokeStyle = COLORS[i % COLORS.length]; ctx.beginPath();
      mine.forEach((h, j) => {
        const x = strip.width - 1 - (now - h.t) / TIMELINE_S * (strip.width - 1);
        const y = top + rowH - 4 - h.p[i] * (rowH - 20);
        j ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
      });
      ctx.stroke();
    });
  });
}

function show(answer) {
  const fps = done.length > 1 ? (done.length - 1) / ((done.at(-1).at - done[0].at) / 1000) : 0;
  const sorted = done.map((d) => d.latency).sort((a, b) => a - b);
  const latency = sorted[Math.floor(sorted.length / 2)] || 0;
  const labels = answer.faces.map((f) => `#${f.id} ${f.label_smoothed}`).join(", ") || "no face";
  stats.dataset.fps = fps.toFixed(2);
  stats.dataset.latency = latency.toFixed(1);
  stats.dataset.frames = String(answer.frame + 1);
  stats.dataset.labels = labels;
  stats.textContent = `${labels} · ${fps.toFixed(1)} frames/s · latency ${latency.toFixed(0)} ms` +
    ` (median of the last 3 s; server ${answer.ms} ms)`;
}

async function save() {
  saved.textContent = "saving…";
  try {
    const response = await fetch(`live/save?session=${session}`, {method: "POST"});
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.detail || response.statusText);
    saved.innerHTML = "";
    for (const [name, url] of Object.entries(answer.files)) {
      const a = document.createElement("a");
      a.href = url; a.textContent = name; a.download = name; a.className = "live-file";
      saved.append(a, " ");
    }
    const img = document.createElement("img");
    img.src = answer.files["timeline.png"]; img.style.maxWidth = "100%";
    saved.append(document.createElement("br"), img);
    saved.dataset.folder = answer.folder;
  } catch (e) {
    saved.textContent = `Not saved: ${e.message}`;
  }
}

$("live-start").addEventListener("click", start);
$("live-stop").addEventListener("click", stop);
$("live-save").addEventListener("click", save);
