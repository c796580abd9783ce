// dreamlift viewer and app: draw a <canvas class="splats"> (its data-src: a Gaussian run's splats.ply) with Spark
// on three.js. The viewer's canvases are drawn when this module loads; the app calls showSplats(canvas) once a job
// is done. data-state is "loading", then "loaded" (the Gaussians are in and frames are drawn) or "error"; a canvas
// taken off the page stops drawing.
// The camera starts as <model-viewer>'s does (camera-orbit "0deg 75deg"): in front (+Z), 15 degrees above,
// framing the Gaussians; drag to orbit, scroll to zoom.
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { SparkRenderer, SplatMesh } from "@sparkjsdev/spark";

const FOVY = 30;
const ELEVATION = 15;
const BACKGROUND = 0xffffff;
const FIT = 1.4; // distance over what just fits the box's sphere: Gaussians reach past their 1-sigma box

function report(canvas, state, text) {
  canvas.dataset.state = state;
  const status = canvas.isConnected && document.getElementById(canvas.dataset.status || ""); // a replaced canvas says nothing
  if (status) status.textContent = text;
}

function frame(camera, controls, box) {
  const centre = box.getCenter(new THREE.Vector3());
  const radius = Math.max(box.getSize(new THREE.Vector3()).length() / 2, 1e-3);
  const distance = (FIT * radius) / Math.sin(THREE.MathUtils.degToRad(FOVY / 2));
  const up = THREE.MathUtils.degToRad(ELEVATION);
  camera.position.set(centre.x, centre.y + distance * Math.sin(up), centre.z + distance * Math.cos(up));
  camera.near = distance / 100;
  camera.far = distance * 100;
  camera.updateProjectionMatrix();
  controls.target.copy(centre);
  controls.update();
}

async function show(canvas) {
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: false });
  renderer.setPixelRatio(window.devicePixelRatio);
  renderer.setClearColor(BACKGROUND, 1);
  const camera = new THREE.PerspectiveCamera(FOVY, 1, 0.01, 100);
  const resize = () => {
    renderer.setSize(canvas.clientWidth, canvas.clientHeight, false);
    camera.aspect = canvas.clientWidth / Math.max(canvas.clientHeight, 1);
    camera.updateProjectionMatrix();
  };
  resize();
  const observer = new ResizeObserver(resize);
  observer.observe(canvas);
  const scene = new THREE.Scene();
  scene.add(new SparkRenderer({ renderer }));
  const splats = new SplatMesh({ url: canvas.dataset.src });
  scene.add(splats);
  await splats.initialized;
  const controls = new OrbitControls(camera, canvas);
  frame(camera, controls, splats.getBoundingBox(false));
  let frames = 0;
  renderer.setAnimationLoop(() => {
    if (!canvas.isConnected) {
      renderer.setAnimationLoop(null);
      controls.dispose();
      splats.dispose();
      renderer.dispose();
      observer.disconnect();
      return;
    }
    controls.update();
    renderer.render(scene, camera);
    if (++frames === 3) report(canvas, "loaded", `${splats.numSplats} Gaussians. Drag to orbit, scroll to zoom.`);
  });
}

export function showSplats(canvas) {
  return show(canvas).catch((error) => {
    report(canvas, "error", `The splats could not be shown (${error && error.message ? error.message : error}).`);
    console.error("dreamlift: splats failed to load", canvas.dataset.src, error);
  });
}

for (const canvas of document.querySelectorAll("canvas.splats[data-src]")) showSplats(canvas);
