// The run page: folders opened on demand, a flat view sorted by a column, a filter, pages
// fetched as the user asks, a preview beside the list, copy buttons and verify. The server
// renders every row (escaped); this script only places what it sends. Served by the page
// itself: its CSP allows no inline script.
"use strict";

const listing = document.getElementById("listing");
const rows = document.getElementById("rows");
const state = { view: "tree", q: "", sort: "name", order: "asc" };
let generation = 0; // a reload answered after a newer one started is dropped

function rowsUrl(extra) {
  const query = new URLSearchParams({ q: state.q, sort: state.sort, order: state.order, ...extra });
  return `${listing.dataset.rows}?${query}`;
}

async function fetchRows(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return { html: await response.text(), total: Number(response.headers.get("X-Total")) };
}

function showCount(total) {
  const all = Number(listing.dataset.count);
  const count = document.getElementById("match-count");
  if (!state.q) count.textContent = `(${all})`;
  else count.textContent = total ? `(${total} of ${all} match)` : `(no match of ${all})`;
  document.getElementById("no-match").hidden = total > 0 || !state.q;
}

async function reload() {
  const mine = ++generation;
  const url = state.view === "flat" ? rowsUrl({}) : rowsUrl({ folder: "" });
  const { html, total } = await fetchRows(url);
  if (mine !== generation) return;
  rows.innerHTML = html;
  rows.classList.toggle("flat", state.view === "flat");
  showCount(total);
  for (const button of document.querySelectorAll(".row.heads button.sort")) {
    const active = state.view === "flat" && button.dataset.sort === state.sort;
    button.classList.toggle("asc", active && state.order === "asc");
    button.classList.toggle("desc", active && state.order === "desc");
  }
}

async function toggleFolder(row) {
  const children = row.nextElementSibling;
  const open = row.getAttribute("aria-expanded") !== "true";
  row.setAttribute("aria-expanded", String(open));
  children.hidden = !open;
  if (open && !children.dataset.loaded) {
    children.dataset.loaded = "1";
    children.innerHTML = (await fetchRows(rowsUrl({ folder: row.dataset.folder }))).html;
  }
}

async function showMore(button) {
  button.disabled = true;
  const { html } = await fetchRows(button.dataset.url);
  button.insertAdjacentHTML("afterend", html);
  button.remove();
}

async function preview(row) {
  for (const selected of rows.querySelectorAll(".row.selected")) selected.classList.remove("selected");
  row.classList.add("selected");
  const pane = document.getElementById("preview");
  const response = await fetch(listing.dataset.preview + encodeURIComponent(row.dataset.name));
  if (response.ok) {
    pane.innerHTML = await response.text();
    return;
  }
  const note = document.createElement("p");
  note.className = "note";
  note.textContent = response.status === 404
    ? "This artifact is no longer there: reload the page."
    : `The preview failed (${response.status}).`;
  pane.replaceChildren(note);
}

function setView(view) {
  state.view = view;
  document.getElementById("view-tree").setAttribute("aria-pressed", String(view === "tree"));
  document.getElementById("view-flat").setAttribute("aria-pressed", String(view === "flat"));
  return reload();
}

async function verify(button) {
  const result = document.getElementById("verify-result");
  button.disabled = true;
  result.className = "";
  result.textContent = "Verifying…";
  try {
    const response = await fetch(button.dataset.url, { method: "POST" });
    const report = await response.json();
    if (!response.ok) throw new Error(report.error);
    const problems = [["missing", report.missing], ["changed", report.changed], ["unrecorded", report.unrecorded]]
      .filter(([, names]) => names.length)
      .map(([what, names]) => `${names.length} ${what}: ${names.slice(0, 5).join(", ")}`);
    result.textContent = report.ok
      ? `OK: all ${report.verified} artifacts match their sha256.`
      : `${report.verified} verified; ${problems.join("; ")}`;
    result.className = report.ok ? "ok" : "bad";
  } catch (error) {
    result.textContent = `Verify failed: ${error.message}`;
    result.className = "bad";
  } finally {
    button.disabled = false;
  }
}

function copy(button) {
  navigator.clipboard.writeText(button.dataset.copy).then(() => {
    const text = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = text; }, 1200);
  });
}

document.addEventListener("click", (event) => {
  const target = event.target.closest("button, .row.file .name");
  if (!target) return;
  if (target.matches("button.copy")) copy(target);
  else if (target.matches("button.more")) showMore(target);
  else if (target.matches(".row.folder button.toggle")) toggleFolder(target.closest(".row"));
  else if (target.matches(".row.file .name")) preview(target.closest(".row"));
  else if (target.matches("#verify")) verify(target);
  else if (target.matches("#view-tree")) setView("tree");
  else if (target.matches("#view-flat")) setView("flat");
  else if (target.matches(".row.heads button.sort")) {
    const same = state.view === "flat" && state.sort === target.dataset.sort;
    state.sort = target.dataset.sort;
    state.order = same && state.order === "asc" ? "desc" : "asc";
    setView("flat");
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches(".row.file .name")) preview(event.target.closest(".row"));
});

const filter = document.getElementById("filter");
if (filter) {
  let timer;
  filter.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.q = filter.value; reload(); }, 150);
  });
}
