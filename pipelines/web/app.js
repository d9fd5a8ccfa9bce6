"use strict";
// The served warehouse's page: log in, verify, query, download, catalogue, audit. No library, no
// request leaves this server; every call carries the session cookie set at login.
const $ = (id) => document.getElementById(id);

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || response.statusText));
  return data;
}

function fill(table, columns, rows) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const name of columns) head.appendChild(document.createElement("th")).textContent = name;
  const body = table.createTBody();
  for (const row of rows) {
    const line = body.insertRow();
    for (const value of row) line.insertCell().textContent = value === null ? "" : String(value);
  }
}

function showUser(me) {
  $("who").textContent = `${me.principal} (${me.role}${me.department ? ": " + me.department : ""})`;
  $("who").hidden = $("logout").hidden = false;
  $("login-panel").hidden = true;
  $("app").hidden = false;
  const isAuditor = me.role === "auditor";
  $("audit-panel").hidden = !isAuditor;
  $("verify-panel").hidden = $("query-panel").hidden = isAuditor;
}

function downloadLink(format) {
  const params = new URLSearchParams({ sql: $("sql").value, purpose: $("query-purpose").value, format });
  if ($("snapshot").value) params.set("snapshot", $("snapshot").value);
  return "/api/download?" + params.toString();
}

function wire() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      showUser(await call("POST", "/api/login", { credential: $("credential").value }));
      $("credential").value = "";
    } catch (failure) {
      $("login-error").textContent = "登录失败 " + failure.message;
    }
  });
  $("logout").addEventListener("click", async () => { await call("POST", "/api/logout"); location.reload(); });
  $("verify-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await call("POST", "/api/verify", { id_number: $("verify-id").value, purpose: $("verify-purpose").value });
      $("verify-result").textContent = !answer.registered ? "未登记 not registered"
        : answer.alive ? "已登记，在世 registered, alive" : "已登记，已故 registered, deceased";
      $("verify-result").dataset.answer = JSON.stringify(answer);
    } catch (failure) {
      $("verify-result").textContent = "核验失败 " + failure.message;
    }
  });
  $("query-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("query-status").textContent = "…";
    try {
      const body = { sql: $("sql").value, purpose: $("query-purpose").value, snapshot: $("snapshot").value || null };
      const result = await call("POST", "/api/query", body);
      fill($("result"), result.columns, result.rows);
      $("query-status").textContent = `${result.rows.length} 行 rows · snapshot ${result.snapshot_id}` + (result.truncated ? " · 已截断 cut" : "");
    } catch (failure) {
      $("query-status").textContent = "查询失败 " + failure.message;
    }
  });
  for (const format of ["csv", "parquet"]) {
    $("download-" + format).addEventListener("click", (event) => {
      event.currentTarget.href = downloadLink(format);
    });
  }
  $("load-catalogue").addEventListener("click", async () => {
    const entries = await call("GET", "/api/catalogue");
    const departments = [...new Set(entries.flatMap((e) => Object.keys(e.departments)))].sort();
    fill($("catalogue"), ["table", "column", "description", "sharing", "personal", ...departments],
      entries.map((e) => [e.table, e.column, e.description, e.sharing, e.personal ? "是" : "否", ...departments.map((d) => e.departments[d])]));
  });
  $("load-log").addEventListener("click", async () => {
    const log = await call("GET", "/api/access-log");
    fill($("access-log"), log.columns, log.rows);
    $("log-status").textContent = log.intact ? "日志完整 chain intact" : "日志被改动 CHAIN BROKEN";
  });
  call("GET", "/api/me").then(showUser).catch(() => {}).finally(() => { document.body.dataset.ready = "yes"; });
}

document.addEventListener("DOMContentLoaded", wire);
