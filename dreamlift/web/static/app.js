// dreamlift app page: submit jobs, list the queue, follow the selected job live.
// It only talks to this server's JSON API (/api/jobs...); the selected job is followed
// with server-sent events (progress, preview, end). State for tests and styling is
// kept in data attributes: #job-panel[data-status], #model[data-state] ("loaded" on
// model-viewer's load event, or "error"). Where <model-viewer> is not installed the
// server's page has no #model (a note, #model-missing, stands in its place): the
// turntable and the downloads are shown without it. A finished job's splats.ply (a Gaussian job) is drawn in
// #splats by splats.js, imported when first needed; where Spark is not installed the page has no #splats
// (a note, #splats-missing, stands in its place), and without splats.ply #splats-panel stays hidden.
const $ = (id) => document.getElementById(id);
let selected = null;
let events = null;
let shownPreviews = new Set();

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, options);
  let data = {};
  try { data = await response.json(); } catch (error) { data = { error: `the server answered ${response.status}` }; }
  if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
  return data;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  return s >= 60 ? `about ${Math.floor(s / 60)} min ${s % 60} s left` : `about ${s} s left`;
}

function stageFraction(job) {
  if (job.stage === 2) return job.refine_steps ? job.refine_step / job.refine_steps : 0;
  return job.steps ? job.step / job.steps : 0;
}

function statusText(job) {
  if (job.stage === 2) {
    const refining = `refining, step ${job.refine_step} of ${job.refine_steps}`;
    if (job.status === "running") return `${refining}${job.eta_seconds != null ? ", " + duration(job.eta_seconds) : ""}${job.cancel_requested ? " (stopping)" : ""}`;
    if (job.status === "done") return `done, ${job.steps} steps and ${job.refine_steps} refinement steps`;
    return `${job.status} at ${refining}`;
  }
  const steps = job.steps ? `step ${job.step} of ${job.steps}` : `step ${job.step}`;
  if (job.status === "running") return `running, ${steps}${job.eta_seconds != null ? ", " + duration(job.eta_seconds) : ""}${job.cancel_requested ? " (stopping)" : ""}`;
  if (job.status === "queued") return job.step ? `queued (resumes at ${steps})` : "queued";
  if (job.status === "done") return `done, ${steps}`;
  return `${job.status} at ${steps}`;
}

// ------------------------------------------------------------------ the form
$("image").addEventListener("change", () => { if ($("image").files.length) $("prompt").value = ""; });
$("job-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("form-error");
  error.textContent = "";
  const fields = { prompt: $("prompt").value, prior: $("prior").value };
  if ($("steps").value.trim() !== "") fields.steps = $("steps").value.trim();
  if ($("seed").value.trim() !== "") fields.seed = $("seed").value.trim();
  let body;
  if ($("image").files.length) {
    body = new FormData();
    for (const [key, value] of Object.entries(fields)) if (key !== "prompt") body.append(key, value);
    body.append("image", $("image").files[0]);
  } else {
    body = { ...fields };
    for (const key of ["steps", "seed"]) if (key in body && /^[+-]?\d+$/.test(body[key])) body[key] = Number(body[key]);
  }
  $("submit").disabled = true;
  try {
    const job = await api("POST", "/api/jobs", body);
    $("job-form").dataset.submitted = job.id;
    await refreshQueue();
    select(job.id);
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    $("submit").disabled = false;
  }
});

// ------------------------------------------------------------------ the queue
async function refreshQueue() {
  let jobs;
  try { jobs = (await api("GET", "/api/jobs")).jobs; } catch (failure) { return; }
  const list = $("queue");
  list.replaceChildren();
  $("queue-empty").hidden = jobs.length > 0;
  for (const job of jobs.slice().reverse()) {
    const item = document.createElement("li");
    item.dataset.id = job.id;
    item.dataset.status = job.status;
    if (job.id === selected) item.classList.add("selected");
    const button = document.createElement("button");
    button.type = "button";
    const title = document.createElement("span");
    title.textContent = job.title;
    const state = document.createElement("span");
    state.className = "job-status";
    state.textContent = job.status === "running" && job.steps ? `${job.stage === 2 ? "refining " : ""}${Math.floor(100 * stageFraction(job))}%` : job.status;
    button.append(title, state);
    button.addEventListener("click", () => select(job.id));
    item.append(button);
    list.append(item);
  }
}

// ------------------------------------------------------------------ the selected job
function select(id) {
  if (events) events.close();
  selected = id;
  shownPreviews = new Set();
  $("previews").replaceChildren();
  $("latest-preview").hidden = true;
  $("loss").hidden = true;
  $("loss-empty").hidden = false;
  $("result").hidden = true;
  const model = $("model");
  if (model) { model.dataset.state = "none"; model.removeAttribute("src"); }
  resetSplats();
  $("job-panel").hidden = false;
  for (const item of document.querySelectorAll("#queue li")) item.classList.toggle("selected", item.dataset.id === id);
  follow(id);
}

function follow(id) {
  events = new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`);
  events.addEventListener("progress", (event) => { if (selected === id) show(JSON.parse(event.data)); });
  events.addEventListener("preview", (event) => { if (selected === id) addPreview(JSON.parse(event.data)); });
  events.addEventListener("end", (event) => {
    events.close();
    if (selected === id) { show(JSON.parse(event.data)); refreshQueue(); }
  });
}

function show(job) {
  const panel = $("job-panel");
  panel.dataset.status = job.status;
  panel.dataset.step = job.step;
  $("job-title").textContent = job.title;
  $("job-id").textContent = `${job.id} · prior ${job.prior} · seed ${job.seed}`;
  $("job-status").textContent = statusText(job);
  $("job-progress").value = stageFraction(job);
  $("job-error").textContent = job.error || "";
  $("cancel").hidden = !(job.status === "queued" || job.status === "running");
  $("resume").hidden = !(job.status === "cancelled" || job.status === "failed");
  if (job.step > 0 && Number($("loss").dataset.step || -1) !== job.step) {
    $("loss").dataset.step = job.step;
    $("loss").src = `/api/jobs/${encodeURIComponent(job.id)}/loss.svg?step=${job.step}`;
    $("loss").hidden = false;
    $("loss-empty").hidden = true;
  }
  for (const url of job.previews) addPreview({ url });
  if (job.status === "done") showResult(job);
}

function addPreview(preview) {
  if (shownPreviews.has(preview.url)) return;
  shownPreviews.add(preview.url);
  const image = document.createElement("img");
  image.src = preview.url;
  image.alt = preview.url.split("/").pop();
  image.title = image.alt;
  $("previews").append(image);
  const latest = [...shownPreviews].sort().pop();
  $("latest-preview").src = latest;
  $("latest-preview").hidden = false;
}

function showModel(mesh) {
  const model = $("model");
  if (!mesh) {
    $("model-status").textContent = "No mesh.glb (the job ran without export).";
  } else if (model && model.getAttribute("src") !== mesh) {
    model.dataset.state = "loading";
    $("model-status").textContent = "Loading the model…";
    model.setAttribute("src", mesh);
  }
}

function resetSplats() {
  const old = $("splats");
  if (!old || old.dataset.src === undefined) return old;
  const canvas = old.cloneNode(false);  // a new canvas: the old one stops drawing once it is off the page
  delete canvas.dataset.src;
  delete canvas.dataset.state;
  old.replaceWith(canvas);
  $("splats-status").textContent = "";
  return canvas;
}

function drawSplats(splats) {
  $("splats-panel").hidden = !splats;
  if (!splats || !$("splats") || $("splats").dataset.src === splats) return;
  const canvas = resetSplats();
  canvas.dataset.src = splats;
  canvas.dataset.state = "loading";
  $("splats-status").textContent = "Loading the splats…";
  import("/static/splats.js").then((module) => module.showSplats(canvas), (error) => {
    canvas.dataset.state = "error";
    $("splats-status").textContent = "The splat view could not be loaded.";
    console.error("dreamlift: splats.js failed to load", error);
  });
}

function showResult(job) {
  $("result").hidden = false;
  showModel(job.files["mesh.glb"]);
  drawSplats(job.files["splats.ply"]);
  const video = $("turntable");
  const turntable = job.files["turntable.mp4"];
  video.hidden = !turntable;
  $("no-turntable").hidden = Boolean(turntable);
  if (turntable && video.getAttribute("src") !== turntable) video.setAttribute("src", turntable);
  const downloads = $("downloads");
  downloads.replaceChildren();
  for (const [name, url] of Object.entries(job.files)) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    link.textContent = name;
    item.append(link);
    downloads.append(item);
  }
}

function watchModel(model) {
  model.addEventListener("load", () => {
    model.dataset.state = "loaded";
    $("model-status").textContent = "Drag to orbit, scroll or pinch to zoom.";
  });
  model.addEventListener("error", (event) => {
    model.dataset.state = "error";
    $("model-status").textContent = "The model could not be shown.";
    console.error("dreamlift: model failed to load", model.getAttribute("src"), event.detail);
  });
}
if ($("model")) watchModel($("model"));

$("cancel").addEventListener("click", async () => {
  try { await api("DELETE", `/api/jobs/${encodeURIComponent(selected)}`); }  // the events stream shows the stop
  catch (failure) { $("job-error").textContent = failure.message; }
  refreshQueue();
});
$("resume").addEventListener("click", async () => {
  try { await api("POST", `/api/jobs/${encodeURIComponent(selected)}/resume`); select(selected); }
  catch (failure) { $("job-error").textContent = failure.message; }
  refreshQueue();
});

refreshQueue();
setInterval(refreshQueue, 2000);
