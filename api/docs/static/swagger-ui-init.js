/*
 * Swagger UI at /docs: its settings. A file of its own rather than an inline
 * script, so that the page's Content-Security-Policy allows no inline code.
 * The page passes the spec's URL in data-spec-url (it moves under a proxy's
 * prefix); everything else is fixed here.
 */
"use strict";

(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "BaseLayout",
    // Keep what the Authorize dialog got (in localStorage) across reloads.
    persistAuthorization: true,
    docExpansion: "list",
    displayOperationId: true,
    displayRequestDuration: true,
    deepLinking: true,
    // Never ask validator.swagger.io about the spec: the page stays offline.
    validatorUrl: null,
  });
})();
