// The creator console's upload form (registry/console_package.html): shows upload progress;
// without JavaScript the form posts normally.
(function () {
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var box = form.querySelector(".upload-progress"), bar = document.getElementById("upload-progress"),
        status = document.getElementById("upload-status"), button = form.querySelector("button[type=submit]");
    box.hidden = false; button.disabled = true; status.textContent = "Uploading…";
    var xhr = new XMLHttpRequest();
    // form.action is shadowed by the hidden input named "action": read the attribute.
    xhr.open("POST", form.getAttribute("action") || window.location.href);
    xhr.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { var pct = Math.round(100 * e.loaded / e.total); bar.value = pct; status.textContent = "Uploading… " + pct + "%"; }
    };
    xhr.onload = function () {
      status.textContent = "Uploaded; inspecting…";
      if (xhr.responseURL && xhr.responseURL !== window.location.href) { window.location.href = xhr.responseURL; return; }
      document.open(); document.write(xhr.responseText); document.close();
    };
    xhr.onerror = function () { status.textContent = "Upload failed; check your connection and try again."; button.disabled = false; };
    xhr.send(new FormData(form));
  });
})();
