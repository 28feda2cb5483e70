// Porta's passkey ceremonies (WebAuthn). Served as a static file under a CSP of script-src 'self'; pages work
// without it (passwords and one-time codes), it only adds passkeys. The page names what it offers with a
// <div id="webauthn" data-csrf data-authz data-return-to> and the buttons below.
"use strict";
(function () {
  const box = document.getElementById("webauthn");
  if (!box || !window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  const csrf = box.dataset.csrf;
  const authz = box.dataset.authz || null;
  const returnTo = box.dataset.returnTo || null;
  const errorLine = document.getElementById("webauthn-error");

  function fromB64(s) {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function show(message) {
    if (errorLine) {
      errorLine.textContent = message;
      errorLine.hidden = false;
    }
  }
  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({ csrf_token: csrf }, body)),
    });
    let data = {};
    try { data = await res.json(); } catch (e) { data = { error: "Porta did not answer as expected." }; }
    if (!res.ok || data.error) throw new Error(data.error || "Porta refused the request.");
    return data;
  }
  function assertionJson(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toB64(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64(r.authenticatorData),
        clientDataJSON: toB64(r.clientDataJSON),
        signature: toB64(r.signature),
        userHandle: r.userHandle ? toB64(r.userHandle) : null,
      },
      extensions: {},
    };
  }
  function requestOptions(options) {
    const pk = options.publicKey;
    pk.challenge = fromB64(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
    return pk;
  }
  async function authenticate(optionsUrl, finishUrl, mediation, signal) {
    const options = await post(optionsUrl, {});
    const request = { publicKey: requestOptions(options) };
    if (mediation) request.mediation = mediation;
    if (signal) request.signal = signal;
    const cred = await navigator.credentials.get(request);
    if (!cred) throw new Error("No passkey was chosen.");
    const done = await post(finishUrl, { credential: assertionJson(cred), authz: authz, return_to: returnTo });
    window.location.assign(done.next);
  }
  function failed(e) {
    if (e && e.name === "AbortError") return;
    show(e && e.name === "NotAllowedError" ? "The passkey was not used (cancelled or timed out)." : (e.message || String(e)));
  }

  // The login page: a button, and passkeys offered in the username field's autofill (conditional mediation).
  let conditional = null;
  const signin = document.getElementById("passkey-signin");
  if (signin) {
    signin.hidden = false;
    signin.addEventListener("click", () => {
      if (conditional) conditional.abort();
      authenticate("/login/passkey/options", "/login/passkey/finish", null).catch(failed);
    });
    // Passkeys offered in the username field's autofill, unless the application already named the user (then
    // the password is what they are asked for; the button still works).
    const username = document.getElementById("username");
    if (PublicKeyCredential.isConditionalMediationAvailable && username && !username.value) {
      PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
        if (!ok) return;
        conditional = new AbortController();
        authenticate("/login/passkey/options", "/login/passkey/finish", "conditional", conditional.signal)
          .catch((e) => { if (!e || e.name !== "NotAllowedError") failed(e); });
      });
    }
  }

  // The second step: the user's own passkeys.
  const second = document.getElementById("passkey-second");
  if (second) {
    second.hidden = false;
    second.addEventListener("click", () => {
      authenticate("/login/passkey/second/options", "/login/passkey/second/finish", null).catch(failed);
    });
  }

  // Enrolment on /account/security.
  const enrol = document.getElementById("passkey-enrol");
  if (enrol) {
    enrol.hidden = false;
    enrol.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const options = await post("/account/security/passkey/options", {});
        const pk = options.publicKey;
        pk.challenge = fromB64(pk.challenge);
        pk.user.id = fromB64(pk.user.id);
        (pk.excludeCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
        const cred = await navigator.credentials.create({ publicKey: pk });
        const r = cred.response;
        const credential = {
          id: cred.id,
          rawId: toB64(cred.rawId),
          type: cred.type,
          response: {
            attestationObject: toB64(r.attestationObject),
            clientDataJSON: toB64(r.clientDataJSON),
          },
          extensions: {},
        };
        const name = document.getElementById("passkey-name").value;
        const done = await post("/account/security/passkey/finish", {
          credential: credential, name: name, authz: authz, return_to: returnTo,
        });
        window.location.assign(done.next);
      } catch (e) {
        failed(e);
      }
    });
  }
})();
