// The API console: Swagger UI (shipped in the package) on this API's OpenAPI document.
// URLs are relative to the page, so the console works with the app mounted under a prefix.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: new URL("api/openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    filter: true,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    showExtensions: false,
    // Tokens stay in this tab's memory, not in the browser's storage.
    persistAuthorization: false,
    // No request leaves for validator.swagger.io or anywhere else.
    validatorUrl: null,
  });
});
