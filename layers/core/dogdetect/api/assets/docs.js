"use strict";
// Swagger UI on this API's own description. validatorUrl null: Swagger UI would otherwise send
// the document to validator.swagger.io for a badge.
// With API keys set, openapi.json needs one too: this page (open to all, like the page at /)
// asks for it, kept in the tab's sessionStorage where the page at / keeps it, and hands it to
// Swagger UI's Authorize, so that "Try it out" sends it as X-API-Key.
(() => {
  const KEY_STORAGE = "dogdetect.apiKey"; // page.js's
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const problem = document.getElementById("key-problem");

  function ask(message) {
    problem.textContent = message;
    form.hidden = false;
    input.focus();
  }

  // Optional form fields left empty, and not sent. Swagger UI fills one with its default, and
  // a null default shows as the text "null", sent as the value (webhook=null: a 422); and it
  // ticks "Send empty value" for each, so an emptied field is sent too (webhook=: a 422, as
  // the API refuses an empty webhook). Here a null default shows as an empty field, and
  // "Send empty value" starts unticked.
  const optionalFieldsLeftOut = () => ({
    wrapComponents: {
      JsonSchemaForm: (Original, system) => (props) => {
        const nullDefault = props.schema?.get?.("default") === null;
        const filled = props.value === null || props.value === "null";
        const value = nullDefault && filled ? "" : props.value;
        return system.React.createElement(Original, { ...props, value });
      },
      ParameterIncludeEmpty: (Original, system) => (props) => {
        const isIncludedOptions = { ...props.isIncludedOptions, defaultValue: false };
        return system.React.createElement(Original, { ...props, isIncludedOptions });
      },
    },
  });

  function show(key) {
    const ui = window.SwaggerUIBundle({
      url: "openapi.json",
      dom_id: "#swagger-ui",
      validatorUrl: null,
      deepLinking: false,
      plugins: [optionalFieldsLeftOut],
      // The document itself is behind the key too; operations get it from Authorize.
      requestInterceptor: (request) => {
        if (request.loadSpec && key) request.headers["X-API-Key"] = key;
        return request;
      },
      // Once the document is in: Authorize needs its security scheme (ApiKey).
      onComplete: () => {
        if (key) ui.preauthorizeApiKey("ApiKey", key);
      },
    });
  }

  // Asked once first: a 401 asks the user for a key instead of Swagger UI's "Failed to load".
  async function load(key) {
    let response;
    try {
      response = await fetch("openapi.json", { headers: key ? { "X-API-Key": key } : {} });
    } catch (error) {
      ask(`Could not reach the service (${error.message}).`);
      return;
    }
    if (response.status === 401) {
      ask(key ? "The service refused this key: try another." : "");
      return;
    }
    if (!response.ok) {
      ask(`The service answered ${response.status}: reload to try again.`);
      return;
    }
    form.hidden = true;
    show(key);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    sessionStorage.setItem(KEY_STORAGE, key);
    load(key);
  });
  load(sessionStorage.getItem(KEY_STORAGE) || "");
})();
