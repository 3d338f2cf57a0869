/* Embedded pages report their height to the parent window (postMessage), so an archive
 * page can size its iframe. Message: {type: "oda-embed-height", height: <px>}.
 * Only when framed and on /embed; the target origin is the parent's (from document.referrer). */
(function () {
  if (window.parent === window || !/\/embed\/?$/.test(window.location.pathname)) { return; }
  var origin = "*";
  try { if (document.referrer) { origin = new URL(document.referrer).origin; } } catch (e) { origin = "*"; }
  var last = 0;
  function report() {
    var h = Math.ceil(document.documentElement.scrollHeight);
    if (Math.abs(h - last) < 2) { return; }
    last = h;
    window.parent.postMessage({ type: "oda-embed-height", height: h, href: window.location.href }, origin);
  }
  function start() {
    report();
    if (window.ResizeObserver) { new ResizeObserver(report).observe(document.body); }
    else { setInterval(report, 500); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
