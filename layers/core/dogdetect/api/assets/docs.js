"use strict";
// Swagger UI on this API's own description. validatorUrl null: Swagger UI would otherwise send
// the document to validator.swagger.io for a badge.
window.SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: false,
});
