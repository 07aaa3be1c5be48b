// Starts Swagger UI on /api/docs. A file rather than an inline script, so the page runs under
// the app's Content-Security-Policy (script-src 'self'). The document's URL comes from the page.
// validatorUrl: null keeps the page from calling validator.swagger.io; "Try it out" uses this session.
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.documentUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
  });
})();
