// dreamlift viewer: report each <model-viewer>'s outcome on the page and in data-state.
// data-state is "loading", then "loaded" (the element's load event) or "error".
for (const viewer of document.querySelectorAll("model-viewer")) {
  const status = document.getElementById(viewer.dataset.status || "");
  const loaded = () => {
    viewer.dataset.state = "loaded";
    if (status) status.textContent = "Drag to orbit, scroll or pinch to zoom.";
  };
  viewer.addEventListener("load", loaded);
  viewer.addEventListener("error", (event) => {
    viewer.dataset.state = "error";
    const detail = event.detail && event.detail.type ? ` (${event.detail.type})` : "";
    if (status) status.textContent = `The model could not be shown${detail}.`;
    console.error("dreamlift: model failed to load", viewer.getAttribute("src"), event.detail);
  });
  if (viewer.loaded) loaded();
}
