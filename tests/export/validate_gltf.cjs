// Validate one glTF/GLB file with the Khronos glTF validator (npm package gltf-validator).
// Usage: NODE_PATH=<node_modules> node validate_gltf.cjs FILE
// Prints the validator's JSON report on stdout; exits 1 if the validator itself fails.
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

const file = process.argv[2];
const folder = path.dirname(file);
const readExternal = (uri) =>
  new Promise((resolve, reject) => {
    try {
      resolve(new Uint8Array(fs.readFileSync(path.resolve(folder, decodeURIComponent(uri)))));
    } catch (error) {
      reject(String(error));
    }
  });

validator
  .validateBytes(new Uint8Array(fs.readFileSync(file)), {
    uri: path.basename(file),
    maxIssues: 200,
    externalResourceFunction: readExternal,
  })
  .then((report) => process.stdout.write(JSON.stringify(report)))
  .catch((error) => {
    process.stderr.write(String(error) + "\n");
    process.exit(1);
  });
