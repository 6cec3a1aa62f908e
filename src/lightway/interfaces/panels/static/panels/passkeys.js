/* Passkeys (WebAuthn) for staff: register one on the security page, sign in with one on
   the second-step page. The server sends the options as JSON (binary fields base64url)
   and checks the answer; this file only converts between JSON and ArrayBuffers. */
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  document.querySelectorAll("[data-passkey-unsupported]").forEach((el) => { el.hidden = true; });

  function toBytes(b64url) {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    const pad = b64.length % 4 ? "=".repeat(4 - (b64.length % 4)) : "";
    const raw = atob(b64 + pad);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }
  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = "";
    for (let i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function csrf() {
    const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error((data.error && data.error.message) || "Something went wrong. Try again.");
    }
    return data;
  }
  function showError(root, message) {
    const el = root.querySelector("[data-passkey-error]");
    if (el) { el.textContent = message; el.hidden = false; }
  }
  function friendly(error) {
    if (error && error.name === "NotAllowedError") return "The passkey request was cancelled or timed out.";
    if (error && error.name === "InvalidStateError") return "This passkey is already registered.";
    return (error && error.message) || "The passkey did not work. Try again.";
  }

  // Registration (security page)
  document.querySelectorAll("[data-passkey-register]").forEach((root) => {
    root.hidden = false;
    const form = root.querySelector("[data-passkey-form]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const options = await post(root.dataset.options);
        options.challenge = toBytes(options.challenge);
        options.user.id = toBytes(options.user.id);
        (options.excludeCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
        const credential = await navigator.credentials.create({ publicKey: options });
        const r = credential.response;
        const payload = {
          id: credential.id,
          rawId: toB64url(credential.rawId),
          type: credential.type,
          response: {
            clientDataJSON: toB64url(r.clientDataJSON),
            attestationObject: toB64url(r.attestationObject),
            transports: typeof r.getTransports === "function" ? r.getTransports() : [],
          },
          clientExtensionResults: credential.getClientExtensionResults(),
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
        };
        const name = form.querySelector('input[name="name"]');
        const result = await post(root.dataset.verify, { credential: payload, name: name ? name.value : "" });
        window.location.assign(result.redirect);
      } catch (error) {
        showError(root, friendly(error));
      }
    });
  });

  // Authentication (second-step page)
  document.querySelectorAll("[data-passkey-auth]").forEach((root) => {
    root.hidden = false;
    root.querySelector("[data-passkey-go]").addEventListener("click", async () => {
      try {
        const options = await post(root.dataset.options);
        options.challenge = toBytes(options.challenge);
        (options.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
        const credential = await navigator.credentials.get({ publicKey: options });
        const r = credential.response;
        const payload = {
          id: credential.id,
          rawId: toB64url(credential.rawId),
          type: credential.type,
          response: {
            clientDataJSON: toB64url(r.clientDataJSON),
            authenticatorData: toB64url(r.authenticatorData),
            signature: toB64url(r.signature),
            userHandle: r.userHandle ? toB64url(r.userHandle) : null,
          },
          clientExtensionResults: credential.getClientExtensionResults(),
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
        };
        const result = await post(root.dataset.verify, { credential: payload, next: root.dataset.next });
        window.location.assign(result.redirect);
      } catch (error) {
        showError(root, friendly(error));
      }
    });
  });
})();
