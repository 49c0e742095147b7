// check.js — runs last in the e2e page (see make_page.py). Fetches the
// 1 MiB body synchronously (so it is part of the page load), then on "load"
// checks every sub-resource and writes one line into #result:
//   RESULT pass img=20/20 js=15/15 css=15/15 big=1048576:xxxxxxxx
// ("fail" and the missing ones otherwise). The test compares the big body's
// FNV-1a with its own.
(function () {
  var e = window.__expect;
  var big = "none";
  try {
    var x = new XMLHttpRequest();
    x.open("GET", e.big, false);
    x.overrideMimeType("text/plain; charset=x-user-defined");
    x.send();
    var t = x.responseText, h = 0x811c9dc5;
    for (var i = 0; i < t.length; i++) {
      h ^= t.charCodeAt(i) & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    big = x.status + ":" + t.length + ":" + ("0000000" + h.toString(16)).slice(-8);
  } catch (err) {
    big = "error:" + err;
  }
  window.addEventListener("load", function () {
    var bad = [], img = 0, js = 0, css = 0, i;
    for (i = 1; i <= e.img; i++) {
      var im = document.getElementById("img" + i);
      if (im && im.complete && im.naturalWidth === i + 1) img++; else bad.push("img" + i);
    }
    for (i = 1; i <= e.js; i++) {
      if (window.__js && window.__js[i] === "js" + i + "-ok") js++; else bad.push("js" + i);
    }
    for (i = 1; i <= e.css; i++) {
      var d = document.getElementById("css" + i);
      if (d && getComputedStyle(d).width === (100 + i) + "px") css++; else bad.push("css" + i);
    }
    var verdict = bad.length ? "fail" : "pass";
    document.getElementById("result").textContent =
      "RESULT " + verdict + " img=" + img + "/" + e.img + " js=" + js + "/" + e.js +
      " css=" + css + "/" + e.css + " big=" + big + (bad.length ? " missing=" + bad.join(",") : "");
    document.title = "DONE";
  });
})();
