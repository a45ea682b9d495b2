// The run page: filter rows by name, copy URIs. Served by the page itself (its CSP allows
// no inline script).
const filter = document.getElementById("filter");
if (filter) {
  filter.addEventListener("input", (event) => {
    const needle = event.target.value.toLowerCase();
    for (const row of document.querySelectorAll("#artifacts tbody tr")) {
      row.hidden = !row.dataset.name.toLowerCase().includes(needle);
    }
  });
}
for (const button of document.querySelectorAll("button.copy")) {
  button.addEventListener("click", () => navigator.clipboard.writeText(button.dataset.uri));
}
