// The phone inspection form: keeps the draft on the phone, uploads photos in resumable
// chunks, and submits through the API with the form's idempotency key, retrying until the
// server answers. Without this script the form still posts as a plain HTML form.
"use strict";
(function () {
  const form = document.getElementById("inspection-form");
  if (!form) return;
  const facility = form.dataset.facility;
  const csrf = form.dataset.csrf;
  const draftKey = "muster-inspection-" + facility;
  const status = document.getElementById("send-status");
  const list = document.getElementById("photo-list");
  const CHUNK = 1024 * 1024;

  let draft = load() || {
    key: form.elements.idempotency_key.value,
    startedAt: Date.now(),
    fields: {},
    uploads: [],
    position: null,
  };
  form.elements.idempotency_key.value = draft.key;

  function load() {
    try {
      return JSON.parse(localStorage.getItem(draftKey));
    } catch (e) {
      return null;
    }
  }
  function save() {
    try {
      localStorage.setItem(draftKey, JSON.stringify(draft));
    } catch (e) {
      /* storage full or disabled: the form still works, only without the draft */
    }
  }

  // Restore what was typed before a reload or a crash.
  if (Object.keys(draft.fields).length > 0 || draft.uploads.length > 0) {
    for (const [name, value] of Object.entries(draft.fields)) {
      const field = form.elements[name];
      if (!field) continue;
      if (field instanceof RadioNodeList) {
        for (const radio of field) radio.checked = radio.value === value;
      } else {
        field.value = value;
      }
    }
    document.getElementById("draft-note").hidden = false;
  }
  for (const el of document.querySelectorAll(".js-only")) el.hidden = false;
  renderUploads();

  form.addEventListener("input", (event) => {
    const target = event.target;
    if (!target.name || target.name === "csrf" || target.name === "idempotency_key") return;
    if (target.type === "radio" && !target.checked) return;
    draft.fields[target.name] = target.value;
    save();
  });

  if (navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(
      (p) => {
        draft.position = [p.coords.latitude, p.coords.longitude];
        save();
      },
      () => {},
      { enableHighAccuracy: true, timeout: 15000 }
    );
  }

  function renderUploads() {
    list.textContent = "";
    for (const u of draft.uploads) {
      const item = document.createElement("li");
      item.textContent = u.name + " — " + (u.done ? "✓" : Math.round((100 * u.offset) / u.size) + "%");
      list.appendChild(item);
    }
  }

  async function api(method, path, body, headers) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: Object.assign({ "X-CSRF-Token": csrf }, headers || {}),
      body,
    });
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    return { status: response.status, json };
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Uploads one file, resuming from where the server says it is after any failure.
  async function upload(file) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const sha256 = await digest(bytes);
    const entry = { name: file.name, size: bytes.length, offset: 0, id: null, done: false };
    draft.uploads.push(entry);
    save();
    renderUploads();
    for (let attempt = 0; attempt < 1000; attempt++) {
      try {
        if (!entry.id) {
          const begun = await api("POST", "/api/v1/uploads", JSON.stringify({ size: bytes.length, sha256, file_name: file.name }), {
            "Content-Type": "application/json",
          });
          if (begun.status !== 201) throw new Refused(begun.json);
          entry.id = begun.json.id;
        } else {
          const state = await api("GET", "/api/v1/uploads/" + entry.id);
          if (state.status !== 200) throw new Refused(state.json);
          entry.offset = state.json.offset;
        }
        while (entry.offset < bytes.length) {
          const chunk = bytes.slice(entry.offset, entry.offset + CHUNK);
          const sent = await api("PATCH", "/api/v1/uploads/" + entry.id, chunk, { "Upload-Offset": String(entry.offset) });
          if (sent.status === 409 && sent.json && typeof sent.json.expected_offset === "number") {
            entry.offset = sent.json.expected_offset;
            continue;
          }
          if (sent.status !== 200) throw new Refused(sent.json);
          entry.offset = sent.json.offset;
          save();
          renderUploads();
        }
        const finished = await api("POST", "/api/v1/uploads/" + entry.id + "/finish");
        if (finished.status !== 200) throw new Refused(finished.json);
        entry.done = true;
        save();
        renderUploads();
        return;
      } catch (error) {
        if (error instanceof Refused) {
          draft.uploads = draft.uploads.filter((u) => u !== entry);
          save();
          renderUploads();
          status.textContent = error.message;
          return;
        }
        document.getElementById("offline-note").hidden = false;
        await sleep(Math.min(30000, 1000 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  function Refused(problem) {
    this.message = (problem && (problem.detail || problem.title)) || form.dataset.failed;
  }

  const photos = document.getElementById("photos");
  if (photos) {
    photos.addEventListener("change", async () => {
      for (const file of photos.files) await upload(file);
      photos.value = "";
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const answers = [];
    for (const fieldset of form.querySelectorAll("fieldset.check-item")) {
      const code = fieldset.dataset.code;
      const checked = fieldset.querySelector("input[type=radio]:checked");
      answers.push({ code, result: checked ? checked.value : "", note: form.elements["note_" + code].value });
    }
    const body = JSON.stringify({
      idempotency_key: draft.key,
      answers,
      notes: form.elements.notes.value,
      latitude: draft.position ? draft.position[0] : null,
      longitude: draft.position ? draft.position[1] : null,
      inspected_at: draft.startedAt,
      attachments: draft.uploads.filter((u) => u.done).map((u) => u.id),
    });
    status.textContent = form.dataset.sending;
    // The same key on every attempt: a retry after a lost answer finds the first inspection.
    for (let attempt = 0; ; attempt++) {
      try {
        const sent = await api("POST", "/api/v1/facilities/" + facility + "/inspections", body, { "Content-Type": "application/json" });
        if (sent.status === 200 || sent.status === 201) {
          localStorage.removeItem(draftKey);
          window.location.assign("/rounds?done=1");
          return;
        }
        status.textContent = (sent.json && (sent.json.detail || sent.json.title)) || form.dataset.failed;
        return;
      } catch (error) {
        document.getElementById("offline-note").hidden = false;
        await sleep(Math.min(30000, 1000 * 2 ** Math.min(attempt, 5)));
      }
    }
  });

  // SHA-256 of the bytes, hex. Browsers give crypto.subtle only on secure origins (https or
  // localhost); an office network serving plain http gets the small fallback below.
  async function digest(bytes) {
    if (window.crypto && window.crypto.subtle) {
      const hash = await window.crypto.subtle.digest("SHA-256", bytes);
      return hex(new Uint8Array(hash));
    }
    return hex(sha256Fallback(bytes));
  }
  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function sha256Fallback(message) {
    const k = new Uint32Array([
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
      0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
      0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
      0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
      0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
      0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]);
    const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    const length = message.length;
    const padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
    padded.set(message);
    padded[length] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
    view.setUint32(padded.length - 4, (length << 3) >>> 0);
    const w = new Uint32Array(64);
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    for (let offset = 0; offset < padded.length; offset += 64) {
      for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + 4 * i);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i]) >>> 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) outView.setUint32(4 * i, h[i]);
    return out;
  }
})();
