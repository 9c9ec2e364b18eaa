// The API reference at /api/docs: Swagger UI (fetched from npm, scripts/js-packages.json)
// over the public OpenAPI document. A plain script, not a module, run after the bundle (both defer).
// No validator badge (it would call validator.swagger.io), no configuration from the query
// string, and "Try it out" keeps the token typed into Authorize in this page's memory only.

/* global SwaggerUIBundle */
window.addEventListener('DOMContentLoaded', () => {
  SwaggerUIBundle({
    url: '/api/openapi.json',
    dom_id: '#api-reference',
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    deepLinking: true,
    validatorUrl: null,
    queryConfigEnabled: false,
    persistAuthorization: false,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
  });
});
