// sciflow's only script. Every page works without it; it adds upload progress,
// a running total for expert scores, an "add a row" button for lists, a
// confirmation before withdrawing or terminating, and one submit per click.
(function () {
  "use strict";
  var zh = document.documentElement.lang !== "en";
  function say(z, e) { return zh ? z : e; }

  // One submission per form: a second click while the first is on its way
  // does nothing (the server would also answer it with the first's result).
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset.sent) { ev.preventDefault(); return; }
    var danger = ev.submitter && ev.submitter.classList.contains("danger");
    if (danger && !window.confirm(say("确定要执行“" + ev.submitter.textContent.trim() + "”吗？此操作不可撤销。",
        "Really " + ev.submitter.textContent.trim() + "? This cannot be undone."))) {
      ev.preventDefault();
      return;
    }
    if (form.hasAttribute("data-progress")) { return; } // handled below
    form.dataset.sent = "1";
    setTimeout(function () { delete form.dataset.sent; }, 8000);
  });

  // Uploads with a progress bar. The server answers with the same redirect a
  // plain form gets; the page follows it.
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.FormData || !window.XMLHttpRequest) { return; }
      ev.preventDefault();
      if (form.dataset.sent) { return; }
      form.dataset.sent = "1";
      var bar = form.querySelector("progress");
      var button = form.querySelector("button");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable && bar) { bar.hidden = false; bar.value = Math.round(e.loaded * 100 / e.total); }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status < 400 && xhr.responseURL) { window.location.assign(xhr.responseURL); return; }
        // An error page: show it as the server drew it.
        document.open(); document.write(xhr.responseText); document.close();
      });
      xhr.addEventListener("error", function () {
        delete form.dataset.sent;
        if (button) { button.disabled = false; }
        window.alert(say("上传失败，请检查网络后重试。", "The upload failed; check the connection and try again."));
      });
      if (button) { button.disabled = true; }
      xhr.send(new FormData(form));
    });
  });

  // Expert scores: the weighted total as the expert types.
  document.querySelectorAll("fieldset.scores").forEach(function (set) {
    var out = set.querySelector(".total");
    function update() {
      var sum = 0, weights = 0, complete = true;
      set.querySelectorAll("input[data-weight]").forEach(function (input) {
        var w = Number(input.dataset.weight), v = input.value.trim();
        if (v === "" || isNaN(Number(v))) { complete = false; return; }
        sum += Number(v) * w; weights += w;
      });
      out.textContent = complete && weights > 0 ? say("加权总分：", "Weighted total: ") + (sum / weights).toFixed(2) : "";
    }
    set.addEventListener("input", update);
    update();
  });

  // Lists of rows (a team, milestones): another blank row without a round trip.
  document.querySelectorAll("fieldset[data-rows]").forEach(function (set) {
    var name = set.dataset.rows, max = Number(set.dataset.max || 0);
    var add = document.createElement("button");
    add.type = "button";
    add.className = "quiet small";
    add.textContent = say("添加一行", "Add a row");
    add.addEventListener("click", function () {
      var rows = set.querySelectorAll(".row");
      if (max && rows.length >= max) { return; }
      var last = rows[rows.length - 1], n = rows.length;
      var copy = last.cloneNode(true);
      copy.dataset.row = n;
      copy.querySelector(".rowno").textContent = n + 1;
      copy.querySelectorAll("[name], [id], [for], [aria-describedby]").forEach(function (el) {
        ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
          var v = el.getAttribute(attr);
          if (v) { el.setAttribute(attr, v.split(name + "." + (n - 1) + ".").join(name + "." + n + ".")
            .split(name.replace(/[._]/g, "-") + "-" + (n - 1) + "-").join(name.replace(/[._]/g, "-") + "-" + n + "-")); }
        });
        if (el.value !== undefined && el.type !== "hidden") { el.value = ""; }
        el.removeAttribute("aria-invalid");
      });
      copy.querySelectorAll(".error").forEach(function (e) { e.remove(); });
      last.after(copy);
      var first = copy.querySelector("input, select, textarea");
      if (first) { first.focus(); }
    });
    set.appendChild(add);
  });
})();
