// Starts the GOV.UK Frontend components on every page (progressive enhancement only).
import { initAll } from "./govuk-frontend.min.js";

initAll();
