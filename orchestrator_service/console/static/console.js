// orchestrator console: plain DOM, no framework, no CDN. Every value from the API is put into
// the page as text (textContent / createTextNode), never as HTML.
"use strict";

const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

// ---- helpers -------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function flash(message, ok) {
  const box = document.getElementById("flash");
  box.replaceChildren(el("p", { class: ok ? "ok" : "err" }, ok ? "Done: " : "Error: ", message));
}

class ApiError extends Error {}

async function api(method, path, body) {
  const headers = { "X-CSRF-Token": CSRF };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch("/console/api" + path, { method, headers, body: payload });
  if (response.status === 401) {
    window.location.assign("/console/login");
    throw new ApiError("Signed out");
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(error.message || `HTTP ${response.status}`);
  }
  return data;
}

// Run an action; show its outcome (the API's own message on failure).
async function act(label, action) {
  try {
    const result = await action();
    flash(label, true);
    return result;
  } catch (error) {
    flash(error.message, false);
    return undefined;
  }
}

function jsonField(value, what) {
  if (!value.trim()) return null;
  let parsed;
  try {
    parsed = JSON.parse(value);
  } catch (_) {
    throw new ApiError(`${what} is not valid JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ApiError(`${what} must be a JSON object`);
  }
  return parsed;
}

function fill(tbody, rows) {
  const body = typeof tbody === "string" ? document.querySelector(`#${tbody} tbody`) : tbody;
  body.replaceChildren(...rows);
  if (!rows.length) {
    const columns = body.closest("table").querySelectorAll("thead th").length;
    body.append(el("tr", {}, el("td", { colspan: columns, class: "empty" }, "Nothing here yet")));
  }
}

function row(...cells) {
  return el("tr", {}, cells.map((cell) => el("td", {}, cell)));
}

function when(value) {
  return value ? new Date(value).toLocaleString() : "";
}

function form(id, handler) {
  const node = document.getElementById(id);
  node.addEventListener("submit", (event) => {
    event.preventDefault();
    handler(new FormData(node), node);
  });
  return node;
}

async function collections() {
  const page = await api("GET", "/rag/collections");
  return page.items.map((c) => c.name);
}

// ---- pages ---------------------------------------------------------------------------------

const pages = {};

pages.login = () => {
  const signIn = async (body) => {
    const response = await fetch("/console/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.ok) {
      window.location.assign("/console/documents");
      return;
    }
    const data = await response.json().catch(() => ({}));
    flash((data.error && data.error.message) || `HTTP ${response.status}`, false);
  };
  form("login-password", (data) =>
    signIn({ email: data.get("email"), password: data.get("password") })
  );
  form("login-key", (data) => signIn({ api_key: data.get("api_key") }));
};

pages.documents = async () => {
  const names = await collections().catch(() => []);
  for (const select of document.querySelectorAll("select[data-collections]")) {
    const options = names.map((name) => el("option", { value: name }, name));
    if (select.hasAttribute("data-any")) options.unshift(el("option", { value: "" }, "any"));
    select.replaceChildren(...options);
  }
  const filter = { collection: "", status: "" };
  const results = document.getElementById("upload-results");

  async function send(file, { replaceOf } = {}) {
    const data = new FormData();
    data.append("file", file);
    data.append("collection", document.getElementById("upload-collection").value);
    const metadata = jsonField(document.getElementById("upload-metadata").value, "Metadata");
    if (metadata) data.append("metadata", JSON.stringify(metadata));
    const again = document.getElementById("upload-replace").checked;
    return api("POST", `/rag/documents${again ? "?on_duplicate=replace" : ""}`, data);
  }

  async function uploadAll(files) {
    for (const file of files) {
      try {
        const doc = await send(file);
        results.append(el("li", { class: "ok" }, `Uploaded: ${file.name} (${doc.status})`));
      } catch (error) {
        results.append(el("li", { class: "err" }, `Failed: ${file.name}: ${error.message}`));
      }
    }
    flash(`${files.length} file(s) sent`, true);
    await refresh();
  }

  const input = document.getElementById("upload-files");
  input.addEventListener("change", () => uploadAll([...input.files]).then(() => (input.value = "")));
  const zone = document.getElementById("dropzone");
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadAll([...event.dataTransfer.files]);
  });

  function replaceWith(doc) {
    const picker = el("input", { type: "file", hidden: true });
    picker.addEventListener("change", async () => {
      const [file] = picker.files;
      if (!file) return;
      await act(`Replaced ${doc.filename} with ${file.name}`, async () => {
        await send(file);
        await api("DELETE", `/rag/documents/${encodeURIComponent(doc.id)}`);
      });
      await refresh();
    });
    document.body.append(picker);
    picker.click();
  }

  function progress(doc) {
    const total = doc.chunks_total;
    const label = `${doc.chunks_done}/${total === null ? "?" : total} chunks`;
    return el(
      "span",
      { class: "progress" },
      el("progress", { max: total || 1, value: total ? doc.chunks_done : 0, "aria-label": label }),
      el("span", { "data-progress": "" }, label)
    );
  }

  async function refresh() {
    const query = new URLSearchParams({ limit: "200" });
    if (filter.collection) query.set("collection", filter.collection);
    if (filter.status) query.set("status", filter.status);
    const page = await api("GET", `/rag/documents?${query}`);
    fill(
      "documents",
      page.items.map((doc) => {
        const tr = row(
          doc.filename,
          doc.collection,
          el("span", { class: `status ${doc.status}`, "data-status": doc.status }, doc.status),
          progress(doc),
          doc.error || "",
          el(
            "span",
            { class: "actions" },
            el("button", {
              type: "button",
              text: "Delete",
              "aria-label": `Delete ${doc.filename}`,
              onclick: async () => {
                if (!window.confirm(`Delete ${doc.filename} from both stores?`)) return;
                await act(`Deleted ${doc.filename}`, () =>
                  api("DELETE", `/rag/documents/${encodeURIComponent(doc.id)}`)
                );
                await refresh();
              },
            }),
            el("button", {
              type: "button",
              text: "Replace…",
              "aria-label": `Replace ${doc.filename} with another file`,
              onclick: () => replaceWith(doc),
            })
          )
        );
        tr.dataset.document = doc.filename;
        return tr;
      })
    );
    return page.items;
  }

  form("doc-filter", (data) => {
    filter.collection = data.get("collection");
    filter.status = data.get("status");
    refresh().catch((error) => flash(error.message, false));
  });
  // Live status: poll while the page is open; quickly while anything is still moving.
  const tick = async () => {
    let moving = false;
    try {
      const items = await refresh();
      moving = items.some((d) => ["queued", "processing", "deleting"].includes(d.status));
    } catch (error) {
      flash(error.message, false);
    }
    window.setTimeout(tick, moving ? 300 : 2000);
  };
  tick();
};

function highlighted(text, query) {
  // Marks each query word in the text; both stay text nodes, so nothing in them is markup.
  const words = [...new Set(query.toLowerCase().split(/\s+/).filter((w) => w.length > 1))];
  const lower = text.toLowerCase();
  if (!words.length || lower.length !== text.length) return [text];
  const parts = [];
  let at = 0;
  while (at < text.length) {
    let best = -1;
    let size = 0;
    for (const word of words) {
      const found = lower.indexOf(word, at);
      if (found !== -1 && (best === -1 || found < best)) {
        best = found;
        size = word.length;
      }
    }
    if (best === -1) break;
    parts.push(text.slice(at, best), el("mark", {}, text.slice(best, best + size)));
    at = best + size;
  }
  parts.push(text.slice(at));
  return parts;
}

pages.search = async () => {
  const names = await collections().catch(() => []);
  document.getElementById("search-collections").replaceChildren(
    ...names.map((name, i) =>
      el(
        "label",
        { class: "inline" },
        el("input", { type: "checkbox", name: "collections", value: name, id: `col-${i}` }),
        ` ${name}`
      )
    )
  );
  form("search-form", (data) =>
    act("Search finished", async () => {
      const body = {
        query: data.get("query"),
        mode: data.get("mode"),
        top_k: Number(data.get("top_k")),
      };
      const chosen = data.getAll("collections");
      if (chosen.length) body.collections = chosen;
      const filters = jsonField(data.get("filters"), "Metadata filters");
      if (filters) body.filters = filters;
      const page = await api("POST", "/rag/search", body);
      const list = document.getElementById("results");
      list.replaceChildren(
        ...page.items.map((hit) =>
          el(
            "li",
            { class: "hit" },
            el(
              "p",
              { class: "meta" },
              `score ${hit.score.toFixed(3)} · ${hit.filename} · ${hit.collection} · chunk ${hit.chunk_index}`
            ),
            el("p", { class: "text" }, highlighted(hit.content, body.query))
          )
        )
      );
      if (!page.items.length) list.append(el("li", {}, "No results"));
    })
  );
};

pages.agents = async () => {
  const tools = await api("GET", "/tools?limit=200").catch(() => ({ items: [] }));
  document.getElementById("agent-tools").replaceChildren(
    ...tools.items.map((tool, i) =>
      el(
        "label",
        { class: "inline" },
        el("input", { type: "checkbox", name: "enabled_tools", value: tool.name, id: `tool-${i}` }),
        ` ${tool.name}`
      )
    )
  );
  const agentForm = document.getElementById("agent-form");
  const check = document.getElementById("template-check");

  function edit(agent) {
    agentForm.reset();
    document.getElementById("agent-id").value = agent ? agent.id : "";
    if (!agent) return;
    document.getElementById("agent-name").value = agent.name;
    document.getElementById("agent-template").value = agent.system_prompt_template;
    document.getElementById("agent-provider").value = agent.model_provider || "";
    document.getElementById("agent-model").value = agent.model_version || "";
    document.getElementById("agent-base-url").value = (agent.config || {}).base_url || "";
    for (const box of agentForm.querySelectorAll('input[name="enabled_tools"]')) {
      box.checked = (agent.enabled_tools || []).includes(box.value);
    }
    document.getElementById("agent-name").focus();
  }

  async function refresh() {
    const page = await api("GET", "/agents?limit=200");
    fill(
      "agents",
      page.items.map((agent) =>
        row(
          String(agent.id),
          agent.name,
          [agent.model_provider, agent.model_version].filter(Boolean).join(" / "),
          (agent.enabled_tools || []).join(", "),
          el("button", {
            type: "button",
            text: "Edit",
            "aria-label": `Edit ${agent.name}`,
            onclick: () => edit(agent),
          })
        )
      )
    );
    document
      .getElementById("run-agent")
      .replaceChildren(...page.items.map((a) => el("option", { value: a.id }, `${a.id} · ${a.name}`)));
  }

  form("agent-form", async (data) => {
    const id = data.get("id");
    const body = {
      name: data.get("name"),
      system_prompt_template: data.get("system_prompt_template"),
      enabled_tools: data.getAll("enabled_tools"),
    };
    if (data.get("model_provider")) body.model_provider = data.get("model_provider");
    if (data.get("model_version")) body.model_version = data.get("model_version");
    if (data.get("base_url")) body.config = { base_url: data.get("base_url") };
    const saved = await act(id ? "Agent saved" : "Agent created", () =>
      id ? api("PATCH", `/agents/${id}`, body) : api("POST", "/agents", body)
    );
    if (!saved) return;
    document.getElementById("agent-id").value = saved.id;
    // The missing-variable check: which template variables a run must supply.
    const render = await api("POST", `/agents/${saved.id}/render`, { variables: {} });
    check.textContent = render.missing.length
      ? `Template variables a run must supply: ${render.missing.join(", ")}`
      : "The template needs no variables.";
    await refresh();
  });
  document.getElementById("agent-new").addEventListener("click", () => edit(null));

  const conversation = document.getElementById("conversation");
  let conversationId = null;
  let lastAgent = null;
  form("run-form", async (data, node) => {
    const agent = data.get("agent");
    if (agent !== lastAgent) conversationId = null;
    lastAgent = agent;
    let variables;
    try {
      variables = jsonField(data.get("variables") || "{}", "Template variables") || {};
    } catch (error) {
      flash(error.message, false);
      return;
    }
    const body = { input: data.get("input"), variables, stream: true };
    if (conversationId) body.conversation_id = conversationId;
    conversation.append(el("li", { class: "user" }, el("strong", {}, "You: "), body.input));
    const answer = el("span", { "data-answer": "" });
    const reply = el("li", { class: "assistant", "aria-busy": "true" }, el("strong", {}, "Agent: "), answer);
    conversation.append(reply);
    node.querySelector("textarea").value = "";
    try {
      const response = await fetch(`/console/api/agents/${agent}/runs`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        const error = await response.json().catch(() => ({}));
        throw new ApiError((error.error && error.error.message) || `HTTP ${response.status}`);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = "message";
          let payload = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) payload += line.slice(6);
          }
          const data = payload ? JSON.parse(payload) : {};
          if (event === "delta") answer.append(document.createTextNode(data.content || ""));
          else if (event === "tool") {
            reply.before(
              el("li", { class: "tool" }, el("strong", {}, "Tool call: "), data.name || JSON.stringify(data))
            );
          } else if (event === "done") {
            conversationId = data.conversation_id;
            flash("Run finished", true);
          } else if (event === "error") {
            throw new ApiError(data.message || "The run failed");
          }
        }
      }
    } catch (error) {
      reply.append(el("p", { class: "err" }, `Error: ${error.message}`));
      flash(error.message, false);
    } finally {
      reply.removeAttribute("aria-busy");
      refreshExecutions();
    }
  });

  async function refreshExecutions() {
    const page = await api("GET", "/executions?limit=50").catch(() => ({ items: [] }));
    fill(
      "executions",
      page.items.map((run) =>
        row(
          when(run.started_at),
          String(run.agent_id),
          run.status + (run.error_message ? `: ${run.error_message}` : ""),
          (run.input_prompt || "").slice(0, 120),
          el("button", {
            type: "button",
            text: "Show steps",
            "aria-label": `Show steps of execution ${run.id}`,
            onclick: async () => {
              const detail = await api("GET", `/executions/${run.id}`);
              document.getElementById("steps").replaceChildren(
                el("h3", {}, `Steps of ${run.id}`),
                el(
                  "ol",
                  {},
                  (detail.steps || []).map((step) =>
                    el(
                      "li",
                      {},
                      `${step.step_type} ${step.step_name}: ${step.status}`,
                      step.error_message ? ` (${step.error_message})` : "",
                      el("pre", {}, JSON.stringify({ input: step.input, output: step.output }, null, 2))
                    )
                  )
                )
              );
            },
          })
        )
      )
    );
  }
  document.getElementById("exec-refresh").addEventListener("click", refreshExecutions);
  await refresh();
  await refreshExecutions();
};

pages.credentials = async () => {
  const credForm = document.getElementById("credential-form");
  function edit(credential) {
    credForm.reset();
    document.getElementById("cred-id").value = credential ? credential.id : "";
    if (!credential) return;
    document.getElementById("cred-name").value = credential.name;
    document.getElementById("cred-category").value = credential.category || "";
    document.getElementById("cred-hosts").value = credential.allowed_hosts.join(", ");
    document.getElementById("cred-name").focus();
  }
  async function refresh() {
    const page = await api("GET", "/credentials?limit=200");
    fill(
      "credentials",
      page.items.map((c) =>
        row(
          c.name,
          c.category || "",
          c.fingerprint || "",
          c.allowed_hosts.join(", "),
          c.status,
          el("span", { class: "actions" },
            el("button", { type: "button", text: "Edit or rotate", "aria-label": `Edit or rotate ${c.name}`, onclick: () => edit(c) }),
            el("button", {
              type: "button",
              text: "Delete",
              "aria-label": `Delete ${c.name}`,
              onclick: async () => {
                if (!window.confirm(`Delete credential ${c.name}?`)) return;
                await act(`Deleted ${c.name}`, () => api("DELETE", `/credentials/${c.id}`));
                await refresh();
              },
            })
          )
        )
      )
    );
  }
  form("credential-form", async (data, node) => {
    const id = data.get("id");
    const hosts = String(data.get("allowed_hosts") || "")
      .split(",")
      .map((h) => h.trim())
      .filter(Boolean);
    const body = { name: data.get("name"), category: data.get("category") || "general", allowed_hosts: hosts };
    const value = data.get("value");
    if (value) body.value = value;
    const label = id ? (value ? "Credential updated and rotated" : "Credential updated") : "Credential created";
    const saved = await act(label, () =>
      id ? api("PATCH", `/credentials/${id}`, body) : api("POST", "/credentials", body)
    );
    document.getElementById("cred-value").value = "";
    if (saved) {
      node.reset();
      await refresh();
    }
  });
  document.getElementById("cred-new").addEventListener("click", () => edit(null));
  await refresh();
};

pages.access = async () => {
  async function refresh() {
    const keys = await api("GET", "/api-keys?limit=200");
    fill(
      "keys",
      keys.items.map((k) =>
        row(
          k.name,
          k.prefix,
          k.role,
          (k.scopes || []).join(", "),
          k.revoked_at ? "revoked" : "active",
          k.revoked_at
            ? ""
            : el("button", {
                type: "button",
                text: "Revoke",
                "aria-label": `Revoke key ${k.name}`,
                onclick: async () => {
                  if (!window.confirm(`Revoke key ${k.name}? It stops working at once.`)) return;
                  await act(`Revoked ${k.name}`, () => api("DELETE", `/api-keys/${k.id}`));
                  await refresh();
                },
              })
        )
      )
    );
    const users = await api("GET", "/users?limit=200").catch(() => ({ items: [] }));
    fill(
      "users",
      users.items.map((u) =>
        row(
          u.email,
          u.role,
          u.is_active ? "yes" : "no",
          el("button", {
            type: "button",
            text: "Delete",
            "aria-label": `Delete user ${u.email}`,
            onclick: async () => {
              if (!window.confirm(`Delete user ${u.email}?`)) return;
              await act(`Deleted ${u.email}`, () => api("DELETE", `/users/${u.id}`));
              await refresh();
            },
          })
        )
      )
    );
  }
  form("key-form", async (data, node) => {
    const scopes = String(data.get("scopes")).split(",").map((s) => s.trim()).filter(Boolean);
    const created = await act("Key created", () =>
      api("POST", "/api-keys", { name: data.get("name"), role: data.get("role"), scopes })
    );
    if (!created) return;
    node.reset();
    const box = document.getElementById("new-key");
    box.hidden = false;
    box.replaceChildren(
      el("p", {}, "Copy this key now; it is shown this once:"),
      el("code", { "data-new-key": "" }, created.api_key)
    );
    await refresh();
  });
  form("user-form", async (data, node) => {
    const body = { email: data.get("email"), role: data.get("role") };
    if (data.get("password")) body.password = data.get("password");
    const created = await act("User created", () => api("POST", "/users", body));
    if (created) {
      node.reset();
      await refresh();
    }
  });
  await refresh();
};

pages.audit = async () => {
  let filters = new URLSearchParams();
  let cursor = null;
  const more = document.getElementById("audit-more");
  async function load(append) {
    const query = new URLSearchParams(filters);
    query.set("limit", "50");
    if (append && cursor) query.set("cursor", cursor);
    const page = await api("GET", `/audit-logs?${query}`);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    const rows = page.items.map((entry) =>
      row(
        when(entry.created_at),
        entry.actor,
        entry.action,
        `${entry.resource_type} ${entry.resource_id || ""}`,
        entry.new_values || entry.old_values
          ? el("code", {}, JSON.stringify({ old: entry.old_values, new: entry.new_values }))
          : ""
      )
    );
    const body = document.querySelector("#audit tbody");
    if (append) body.append(...rows);
    else fill(body, rows);
  }
  form("audit-filter", (data) => {
    filters = new URLSearchParams();
    for (const [key, value] of data.entries()) {
      if (!value) continue;
      filters.set(key, key === "since" || key === "until" ? new Date(value).toISOString() : value);
    }
    load(false).catch((error) => flash(error.message, false));
  });
  more.addEventListener("click", () => load(true).catch((error) => flash(error.message, false)));
  await load(false);
};

pages.platform = async () => {
  async function refresh() {
    const page = await api("GET", "/tenants?limit=200");
    fill(
      "tenants",
      page.items.map((t) => row(String(t.id), t.name, t.is_active ? "yes" : "no", when(t.created_at)))
    );
  }
  form("tenant-form", async (data, node) => {
    const created = await act("Tenant created", () => api("POST", "/tenants", { name: data.get("name") }));
    if (!created) return;
    node.reset();
    const box = document.getElementById("new-tenant");
    box.hidden = false;
    box.replaceChildren(
      el("p", {}, `Tenant ${created.id} created.`),
      created.api_key ? el("p", {}, "Its first admin key, shown this once: ", el("code", {}, created.api_key)) : ""
    );
    await refresh();
  });
  const ready = await api("GET", "/health/ready").catch((error) => ({ error: error.message }));
  const heal = document.getElementById("heal");
  if (!ready.heal) {
    heal.replaceChildren(el("p", {}, ready.error || "No heal report (the service is not ready)."));
  } else {
    heal.replaceChildren(
      ...Object.entries(ready.heal).map(([database, report]) =>
        el(
          "section",
          { class: "card" },
          el("h3", {}, `Database: ${database}`),
          el("pre", { "data-heal": database }, JSON.stringify(report, null, 2))
        )
      )
    );
  }
  await refresh();
};

// ---- start ---------------------------------------------------------------------------------

async function start() {
  const page = document.body.dataset.page;
  if (page !== "login") {
    const me = await api("GET", "/me").catch(() => null);
    if (!me) return;
    document.getElementById("whoami").textContent = me.email
      ? `${me.email} (${me.role})`
      : `${me.tenant_name || "platform"} key (${me.role})`;
    if (me.tenant_id === null) {
      for (const item of document.querySelectorAll("[data-platform-only]")) item.hidden = false;
    }
    document.getElementById("logout").addEventListener("click", async () => {
      await fetch("/console/logout", { method: "POST", headers: { "X-CSRF-Token": CSRF } });
      window.location.assign("/console/login");
    });
  }
  if (pages[page]) {
    try {
      await pages[page]();
    } catch (error) {
      flash(error.message, false);
    }
  }
  document.body.dataset.ready = "true"; // the page's controls are wired
}

document.addEventListener("DOMContentLoaded", start);
