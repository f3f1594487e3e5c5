// Builds src/civicshare/web/static from registry packages: GOV.UK Frontend compiled with our
// settings, its JavaScript, Swagger UI for /docs, and our own images and scripts.
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sass from "sass";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const web = join(root, "src/civicshare/web");
const out = join(web, "static");
const modules = join(root, "node_modules");

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "images"), { recursive: true });

const css = sass.compile(join(web, "scss/civicshare.scss"), {
  loadPaths: [modules],
  style: "compressed",
  quietDeps: true,
  silenceDeprecations: ["import"],
});
writeFileSync(join(out, "civicshare.css"), css.css);

const govuk = join(modules, "govuk-frontend/dist/govuk");
cpSync(join(govuk, "govuk-frontend.min.js"), join(out, "govuk-frontend.min.js"));
cpSync(join(web, "js/civicshare.mjs"), join(out, "civicshare.mjs"));
cpSync(join(web, "images"), join(out, "images"), { recursive: true });

// Leaflet for every map.
cpSync(join(modules, "leaflet/dist"), join(out, "leaflet"), {
  recursive: true,
  filter: (source) => !source.endsWith(".map") && !source.includes("leaflet-src"),
});
// Marker clustering for every map (the plugin's own css and minified script only).
mkdirSync(join(out, "leaflet.markercluster"), { recursive: true });
for (const file of ["leaflet.markercluster.js", "MarkerCluster.css"]) {
  cpSync(join(modules, "leaflet.markercluster/dist", file), join(out, "leaflet.markercluster", file));
}
// The one map component (docs/maps.md), and the incident pages' own script and styles.
cpSync(join(web, "static-src/map"), join(out, "map"), { recursive: true });
cpSync(join(web, "static-src/incidents"), join(out, "incidents"), { recursive: true });

const swagger = join(modules, "swagger-ui-dist");
mkdirSync(join(out, "swagger-ui"), { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
  cpSync(join(swagger, file), join(out, "swagger-ui", file));
}
console.log(`built web assets in ${out}`);
